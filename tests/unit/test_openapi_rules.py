"""The OpenAPI rules and the HEAD/OPTIONS/405 middleware, on a small app of their own; and
one check of the real app's document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr

from pegasus.app import create_app
from pegasus.config import DatabaseSettings, Settings, StorageSettings
from pegasus.dependencies import AdminDep, UserDep, current_user
from pegasus.http_methods import MethodsMiddleware
from pegasus.openapi import install_openapi


class Body(BaseModel):
    name: str


def _app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/api")

    @router.get("/things/{thing_id}")
    def get_thing(thing_id: str, user: UserDep) -> dict[str, str]:
        return {"id": thing_id}

    @router.patch("/things/{thing_id}")
    def edit_thing(
        thing_id: str, body: Body, user: UserDep, if_match: Annotated[str | None, Header()] = None
    ) -> dict[str, str]:
        return {"id": thing_id}

    @router.get("/admin")
    def admin(user: AdminDep) -> dict[str, str]:
        return {}

    @router.get("/open")
    def open_route() -> dict[str, str]:
        return {"ok": "yes"}

    @router.head("/custom")
    def custom_head() -> Response:
        return Response(headers={"X-Own": "1"})

    @router.get("/custom")
    def custom_get() -> dict[str, str]:
        return {}

    app.include_router(router)
    install_openapi(app)
    app.add_middleware(MethodsMiddleware, router=app.router)
    return app


def test_error_responses_follow_the_rules() -> None:
    paths = _app().openapi()["paths"]
    assert sorted(paths["/api/things/{thing_id}"]["get"]["responses"]) == [
        "200", "401", "404", "422", "503"
    ]  # fmt: skip
    assert sorted(paths["/api/things/{thing_id}"]["patch"]["responses"]) == [
        "200", "400", "401", "403", "404", "409", "412", "413", "422", "503"
    ]  # fmt: skip
    assert sorted(paths["/api/admin"]["get"]["responses"]) == ["200", "401", "403", "422", "503"]
    assert sorted(paths["/api/open"]["get"]["responses"]) == ["200", "422", "503"]
    error = paths["/api/open"]["get"]["responses"]["422"]["content"]["application/json"]
    assert error["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def test_authenticated_operations_carry_the_bearer_scheme() -> None:
    schema = _app().openapi()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert schema["paths"]["/api/things/{thing_id}"]["get"]["security"] == [{"bearer": []}]
    assert schema["paths"]["/api/admin"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in schema["paths"]["/api/open"]["get"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_head_options_and_405_list_the_methods() -> None:
    app = _app()
    app.dependency_overrides[current_user] = lambda: None
    client = TestClient(app)
    head = client.head("/api/open")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b'{"ok":"yes"}'))
    options = client.options("/api/things/1")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, PATCH"
    refused = client.put("/api/things/1")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, OPTIONS, PATCH"
    assert refused.json()["error"]["code"] == "method_not_allowed"
    # A route's own HEAD handler is kept.
    assert client.head("/api/custom").headers["x-own"] == "1"
    assert client.get("/api/nowhere").status_code == 404


def _constraint_keys(node: object, where: str = "") -> list[str]:
    """Paths of pydantic's raw constraint keys (``ge``, ``le``, ...) left in a schema: JSON
    Schema ignores them, so clients and contract tests would think any value is valid."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"ge", "le", "gt", "lt"} and isinstance(value, int | float):
                found.append(f"{where}/{key}")
            found += _constraint_keys(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _constraint_keys(value, f"{where}/{index}")
    return found


def test_every_bound_in_the_api_schema_is_json_schema(tmp_path: Path) -> None:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(f"sqlite:///{tmp_path / 'p.db'}")),
        storage=StorageSettings(root=tmp_path / "objects"),
    )
    document = create_app(settings).openapi()
    assert _constraint_keys(document) == []
