"""The app's ASGI middlewares: request ids and metrics, security headers, NUL refusal,
body limits.

Each refusal answers with ``pegasus.errors.error_body``, as the app's error handlers do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pegasus.errors import (
    InvalidRequestError,
    MediaTooLargeError,
    PegasusError,
    RequestTooLargeError,
    error_body,
    format_size,
    too_large_message,
)
from pegasus.observability.metrics import UNMATCHED_ROUTE, PipelineMetrics

log = structlog.get_logger(__name__)


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``), logs it, counts it in metrics."""

    def __init__(self, app: ASGIApp, metrics: PipelineMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None)
            template = path if isinstance(path, str) else None
            elapsed = time.perf_counter() - started
            # Labels from fixed sets only: invented methods and paths add no series.
            self.metrics.observe_http(scope["method"], template, status_holder["status"], elapsed)
            log.info(
                "http.request",
                method=scope["method"][:32],
                route=template or UNMATCHED_ROUTE,
                status=status_holder["status"],
                seconds=round(elapsed, 4),
            )
            structlog.contextvars.unbind_contextvars("request_id")


#: The Content-Security-Policy of every response. Scripts come only from this server's files
#: (ES modules and vendored files under /static): no inline script, no event-handler
#: attribute, no eval. Styles allow inline ``style`` because two server-rendered spots use
#: it (the progress bar's width in status.html, the <style> block of ops.html); scripts may
#: not. Media and images may be ``blob:`` (a recording played back before upload).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Headers every response carries unless the route set its own.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), geolocation=(), payment=(), usb=(), microphone=(self)"),
)

_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)


class SecurityHeadersMiddleware:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (pages, API, static files, errors
    answered by the other middlewares), keeping any a route set itself.

    ``hashed_pages``: paths whose HTML is built from fixed arguments only, never from the
    request or stored data, and carries an inline script it cannot do without (Swagger UI's
    start-up script at /docs). Their body is read whole and the policy allows exactly the
    SHA-256 of each inline script there; every other page allows none."""

    def __init__(self, app: ASGIApp, hashed_pages: frozenset[str] = frozenset({"/docs"})) -> None:
        self.app = app
        self.hashed_pages = hashed_pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.hashed_pages:
            await self._hashed(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_security_headers(message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _hashed(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = b""

        async def buffer(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
                if not message.get("more_body", False) and start is not None:
                    hashes = [
                        "'sha256-"
                        + base64.b64encode(hashlib.sha256(script).digest()).decode()
                        + "'"
                        for script in _INLINE_SCRIPT.findall(body)
                    ]
                    policy = CONTENT_SECURITY_POLICY.replace(
                        "script-src 'self'", " ".join(["script-src 'self'", *hashes])
                    )
                    start["headers"] = _with_security_headers(
                        start.get("headers", []), policy=policy
                    )
                    await send(start)
                    await send({"type": "http.response.body", "body": body, "more_body": False})
            else:
                await send(message)

        await self.app(scope, receive, buffer)


def _script_hash(script: bytes) -> str:
    """The CSP source that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"


def _with_security_headers(
    headers: Any, *, policy: str = CONTENT_SECURITY_POLICY
) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    added = list(headers)
    for name, value in SECURITY_HEADERS:
        if name.encode("latin-1") not in present:
            if name == "content-security-policy":
                value = policy
            added.append((name.encode("latin-1"), value.encode("latin-1")))
    return added


class NulCharacterMiddleware:
    """Refuses a NUL character anywhere in a request's text with 422 ``request.invalid``:
    the path (so path parameters), the query string, and JSON or URL-encoded form bodies
    (read whole; ``BodyLimitMiddleware`` outside this one caps them). PostgreSQL cannot store
    NUL and SQLite would, so both columns refuse it here, before any route runs. Multipart
    uploads are not read here: their text fields are checked by the upload service."""

    TEXT_BODIES = (b"application/json", b"application/x-www-form-urlencoded")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = None
        query = scope.get("query_string") or b""
        if "\x00" in scope["path"] or b"%00" in (scope.get("raw_path") or b""):
            where = "the address (URL path)"
        elif b"%00" in query or b"\x00" in query:
            where = "the query string"
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
        if where is None and content_type.startswith(self.TEXT_BODIES):
            body = b""
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left before sending its body
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            if _body_has_nul(body, is_json=content_type.startswith(b"application/json")):
                where = "the request body"
            receive = _replay(body, receive)
        if where is None:
            await self.app(scope, receive, send)
            return
        error = InvalidRequestError(
            f"The request holds a NUL character (\\0) in {where}. Remove it and try again."
        )
        await error_response(scope, error.code, error.message, 422)(scope, receive, send)


def _body_has_nul(body: bytes, *, is_json: bool) -> bool:
    if b"\x00" in body:
        return True
    if not is_json:
        return b"%00" in body  # a URL-encoded form
    if b"\\u0000" not in body.lower():
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False  # not JSON: the route's validation says so
    pending: list[Any] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the client sends next."""
    pending: Message | None = {"type": "http.request", "body": body, "more_body": False}

    async def replayed() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replayed


class BodyTooLargeError(StarletteHTTPException):
    """Raised while a body without a declared length grows past its limit: carries
    ``error`` (``request.too_large``, or ``media.too_large`` for uploads) through FastAPI's
    body parsing, which lets HTTP exceptions pass as they are (anything else would become a
    400). Not a ``PegasusError`` for that reason; the app answers it with ``error``'s code."""

    def __init__(self, error: PegasusError) -> None:
        super().__init__(status_code=413, detail=error.message)
        self.code = error.code


@dataclass(frozen=True)
class BodyLimit:
    """How many body bytes one kind of request may send, and what a refusal says."""

    max_bytes: int
    error: PegasusError
    is_upload: bool = False


class BodyLimitMiddleware:
    """Refuses bodies over their limit with 413 before they are read or stored: uploads
    (``POST .../lectures``) up to the upload limit, everything else up to 1 MiB. A declared
    Content-Length is checked up front; a body without one is counted as it arrives. Either
    way the same request gets the same answer (uploads: ``media.too_large``). Add a kind of
    request by adding a rule to ``limit_for``."""

    #: Room for multipart boundaries and form fields around the file itself.
    OVERHEAD_BYTES = 64 * 1024
    OTHER_LIMIT_BYTES = 1024 * 1024

    def __init__(
        self,
        app: ASGIApp,
        max_upload_bytes: int,
        metrics: PipelineMetrics,
        max_chunk_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.metrics = metrics
        self.max_chunk_bytes = max_chunk_bytes

    def limit_for(self, scope: Scope) -> BodyLimit:
        """The limit for this request's body."""
        if scope["method"] == "POST" and scope["path"].endswith("/lectures"):
            return BodyLimit(
                max_bytes=self.max_upload_bytes + self.OVERHEAD_BYTES,
                error=MediaTooLargeError(too_large_message(self.max_upload_bytes)),
                is_upload=True,
            )
        if scope["method"] == "PATCH" and scope["path"].startswith("/api/v1/uploads/"):
            # A tus chunk; the route itself checks the total against Upload-Length.
            return BodyLimit(
                max_bytes=self.max_chunk_bytes,
                error=RequestTooLargeError(
                    f"One upload request may carry at most {format_size(self.max_chunk_bytes)}; "
                    "send the file in smaller chunks."
                ),
            )
        return BodyLimit(
            max_bytes=self.OTHER_LIMIT_BYTES,
            error=RequestTooLargeError(
                "The request body is too large: at most "
                f"{format_size(self.OTHER_LIMIT_BYTES)} is accepted here."
            ),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit.max_bytes:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message_in = await receive()
            if message_in["type"] == "http.request":
                received += len(message_in.get("body", b""))
                if received > limit.max_bytes:
                    if limit.is_upload:
                        self.metrics.ingest_requests.labels(outcome="rejected").inc()
                    raise BodyTooLargeError(limit.error)
            return message_in

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLargeError:
            # Raised outside FastAPI's handlers (a middleware reading the body): answer here.
            if started:
                raise
            await self._refuse(scope, receive, send, limit, count=False)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, limit: BodyLimit, *, count: bool = True
    ) -> None:
        if limit.is_upload and count:
            self.metrics.ingest_requests.labels(outcome="rejected").inc()
        error = limit.error
        response = error_response(scope, error.code, error.message, 413, {"Connection": "close"})
        await response(scope, receive, send)


def error_response(
    scope: Scope,
    code: str,
    message: str,
    status: int,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error answer: ``error_body`` with the request's id when it has one."""
    return JSONResponse(error_body(code, message, request_id(scope)), status, headers=headers)


def request_id(scope: Scope) -> str | None:
    """The id ``RequestContextMiddleware`` gave this request, if it ran."""
    value = scope.get("state", {}).get("request_id")
    return str(value) if value else None
