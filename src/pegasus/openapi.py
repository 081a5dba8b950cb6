"""The OpenAPI document, completed by rule, and the offline API reference at ``/docs``.

``install_openapi(app)`` makes ``app.openapi()`` return FastAPI's generated document plus
what every route would otherwise have to repeat by hand:

- ``components.securitySchemes.bearer`` (HTTP bearer), and ``security: [{bearer: []}]`` on
  every operation whose dependency tree contains ``current_user`` (``UserDep``/``AdminDep``);
- error responses with Pegasus's error body ``{"error": {"code", "message", "request_id"?}}``:
  401 when authenticated; 403 when admin-only or (cookie sessions' CSRF check) an
  authenticated unsafe method; 404 with path parameters; 409 for unsafe methods on an
  existing resource (state transitions and concurrent edits); 412 with an ``If-Match``
  (or ``Tus-Resumable``) header parameter; 400 and 413 when a body is accepted (a body
  model, or POST/PUT/PATCH); 422 and 503 always.

Rules read the routes at the time the document is built, so routes added later are covered
without edits. A route's own ``responses`` entries win over the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import BaseRoute

from pegasus.dependencies import admin_user, current_user
from pegasus.uploads.schemas import TUS_VERSION

#: Swagger UI, vendored under ``web/static/vendor`` (see its VERSION file).
SWAGGER_UI_DIR = "/static/vendor/swagger-ui-dist-5.35.0"

SECURITY_SCHEME = "bearer"
ERROR_SCHEMA = "ErrorBody"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Methods whose body every route may read (the body limit applies to all of them).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: Header parameters whose failed precondition answers 412.
PRECONDITION_HEADERS = frozenset({"if-match", "if-unmodified-since", "tus-resumable"})

#: Routes that check a credential of their own instead of ``current_user`` (a shared
#: secret, not a user's token): they get 401 and 403 but no ``security`` entry, so the
#: docs' Authorize button never sends a user's token there. (method, path) -> note.
OWN_CREDENTIALS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/ops/alerts"): "Send the Alertmanager webhook secret "
    "(PEGASUS_OPS_ALERT_WEBHOOK_SECRET) as `Authorization: Bearer <secret>`; 403 while no "
    "secret is configured.",
}

#: Headers a middleware requires of every request under a path prefix, methods excepted:
#: documented as required header parameters (their failure answers 412).
#: prefix -> (header, allowed values, methods that need not send it)
PROTOCOL_HEADERS: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {
    "/api/v1/uploads": ("Tus-Resumable", (TUS_VERSION,), frozenset({"OPTIONS"})),
}
#: Transport headers the HTTP client sets itself; a parameter for them only misleads.
TRANSPORT_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body could not be parsed (for example a malformed multipart form).",
    401: "No valid credentials: send `Authorization: Bearer <token>` (code `auth.required`; "
    "`auth.token_revoked`, `auth.token_expired` or `auth.account_disabled` for a token that "
    "no longer works).",
    403: "Signed in but not allowed: admin only, or a cookie session without its CSRF token "
    "(codes `auth.forbidden`, `auth.csrf`).",
    404: "Nothing with this id is visible to you (code `not_found` or a more specific one).",
    409: "The resource is in a state that does not allow this now "
    "(for example `lecture.nothing_to_retry`, or it is still being processed).",
    412: "`If-Match` names an older version: someone else changed it first "
    "(code `edit.conflict`). Fetch it again and reapply your change.",
    413: "The body is larger than this server accepts (codes `request.too_large`, "
    "`media.too_large`).",
    422: "The request is not valid (code `request.invalid` or a more specific one); the "
    "message says which field and why.",
    503: "The service is busy or its storage is unavailable; try again after `Retry-After` "
    "seconds when given (codes `service.busy`, `storage.unavailable`).",
}

_ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable dotted error code"},
                "message": {"type": "string", "description": "what happened, what to do"},
                "request_id": {"type": "string", "description": "the X-Request-ID"},
            },
        }
    },
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            complete_schema(schema, app.routes)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs(app: FastAPI, *, path: str = "/docs") -> None:
    """Serve Swagger UI at ``path`` from the vendored copy: no CDN, works offline."""

    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_UI_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI_DIR}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI_DIR}/favicon-32x32.png",
            # Swagger UI would otherwise send the document to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    app.add_api_route(path, docs, methods=["GET"], include_in_schema=False)


def complete_schema(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Add the security scheme and the rule-based error responses to ``schema`` in place."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_SCHEMA] = _ERROR_BODY_SCHEMA
    schemes = components.setdefault("securitySchemes", {})
    schemes[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`pegasus tokens create EMAIL`). The web app's session "
        "cookie works too.",
    }
    # Included routers are resolved lazily; their contexts carry the full path and the
    # dependant with router-level dependencies.
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            _document_headers(operation, str(route.path_format), method)
            own = OWN_CREDENTIALS.get((method, str(route.path_format)))
            if own is not None:
                operation["description"] = f"{operation.get('description', '')}\n\n{own}".strip()
            elif _depends_on(route.dependant, current_user):
                operation["security"] = [{SECURITY_SCHEME: []}]
            for status in error_statuses(route, method, operation, own is not None):
                _add_error(operation, status)
    _drop_unused_validation_schemas(schema)


def error_statuses(
    route: RouteContext, method: str, operation: dict[str, Any], own_credentials: bool = False
) -> list[int]:
    """The error statuses ``method`` on ``route`` can answer, by the module's rules."""
    statuses = {422, 503}
    authenticated = own_credentials or _depends_on(route.dependant, current_user)
    if authenticated:
        statuses.add(401)
        if own_credentials or _depends_on(route.dependant, admin_user):
            statuses.add(403)
        if method in UNSAFE_METHODS:
            statuses.add(403)  # a cookie session without its CSRF token
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
        if method in UNSAFE_METHODS:
            statuses.add(409)
    if any(
        p.get("in") == "header" and p.get("name", "").lower() in PRECONDITION_HEADERS
        for p in parameters
    ):
        statuses.add(412)
    if route.body_field is not None or method in BODY_METHODS:
        statuses.update({400, 413})
    return sorted(statuses)


def _document_headers(operation: dict[str, Any], path: str, method: str) -> None:
    parameters = [
        p
        for p in operation.get("parameters", [])
        if not (p.get("in") == "header" and p.get("name", "").lower() in TRANSPORT_HEADERS)
    ]
    for prefix, (header, values, exempt) in PROTOCOL_HEADERS.items():
        if method in exempt or not (path == prefix or path.startswith(prefix + "/")):
            continue
        parameters = [
            p
            for p in parameters
            if not (p.get("in") == "header" and p.get("name", "").lower() == header.lower())
        ]
        parameters.append(
            {
                "name": header,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "enum": list(values)},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)


def _add_error(operation: dict[str, Any], status: int) -> None:
    responses = operation.setdefault("responses", {})
    key = str(status)
    if key in responses and status != 422:
        return  # the route documented it itself
    response: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
        },
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}
        }
    if status == 503:
        response["headers"] = {
            "Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}
        }
    responses[key] = response


def _drop_unused_validation_schemas(schema: dict[str, Any]) -> None:
    """FastAPI's own 422 shape is replaced by the error body; drop it when nothing uses it."""
    schemas = schema.get("components", {}).get("schemas", {})
    text = repr(schema.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if name in schemas and f"#/components/schemas/{name}'" not in text:
            others = repr({k: v for k, v in schemas.items() if k != name})
            if f"#/components/schemas/{name}'" not in others:
                del schemas[name]


def _depends_on(dependant: Dependant, target: Callable[..., Any]) -> bool:
    return any(dep.call is target for dep in _walk(dependant))


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)
