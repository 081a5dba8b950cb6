"""One pooled connection per request, a pool sized to the threads, and 503 when it runs dry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.routing import BaseRoute

from pegasus.accounts.service import create_token, create_user
from pegasus.accounts.web_sessions import start_session
from pegasus.app import create_app
from pegasus.config import (
    EVENT_READ_THREADS,
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.db.base import utcnow
from pegasus.db.models import User, WebSession
from pegasus.db.session import BACKGROUND_CONNECTIONS, unit_of_work
from pegasus.routing import UnitOfWorkRoute
from pegasus.runtime import Runtime, build_runtime

#: Routes FastAPI itself adds (the OpenAPI document and the docs pages) use no database.
FASTAPI_OWN_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _settings(
    tmp_path: Path, pool_size: int = 0, pool_timeout_seconds: float = 2.0, database_url: str = ""
) -> Settings:
    return Settings(
        database=DatabaseSettings(
            url=SecretStr(database_url or f"sqlite:///{tmp_path / 'p.db'}"),
            pool_size=pool_size,
            pool_timeout_seconds=pool_timeout_seconds,
        ),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}", workers=2),
        server=ServerSettings(run_consumer=False, threads=12),
    )


def _signed_in(runtime: Runtime) -> dict[str, str]:
    with unit_of_work(runtime.session_factory) as session:
        create_user(session, "a@example.org", "a long enough password")
        return {"Authorization": f"Bearer {create_token(session, 'a@example.org')}"}


@pytest.fixture
def one_connection(
    tmp_path: Path, sqlite_url: str
) -> Iterator[tuple[TestClient, Runtime, dict[str, str]]]:
    """An app whose pool holds a single connection and gives up waiting after 0.3 s."""
    settings = _settings(tmp_path, pool_size=1, pool_timeout_seconds=0.3, database_url=sqlite_url)
    runtime = build_runtime(settings, serving=True)
    headers = _signed_in(runtime)
    with TestClient(create_app(settings, runtime)) as client:
        yield client, runtime, headers


def test_a_request_needs_only_one_connection(
    one_connection: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, _, headers = one_connection
    # Authentication (which records the token's use) and the route share one connection:
    # with a second one needed, this pool of one would time out.
    created = client.post("/api/v1/courses", json={"name": "Biology"}, headers=headers)
    assert created.status_code == 201, created.text
    listed = client.get("/api/v1/courses", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [course["name"] for course in listed.json()] == ["Biology"]


def test_an_exhausted_pool_answers_503_service_busy_and_loses_nothing(
    one_connection: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, runtime, headers = one_connection
    assert client.post("/api/v1/courses", json={"name": "Kept"}, headers=headers).is_success
    held = runtime.engine.connect()  # another thread holds the only connection
    try:
        busy = client.get("/api/v1/courses", headers=headers)
    finally:
        held.close()
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "2"
    error = busy.json()["error"]
    assert error["code"] == "service.busy"
    assert "try again" in error["message"].lower()
    again = client.get("/api/v1/courses", headers=headers)
    assert again.status_code == 200
    assert [course["name"] for course in again.json()] == ["Kept"]


def test_the_pool_is_sized_to_the_threads_that_use_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    server = build_runtime(settings, serving=True)
    worker = build_runtime(settings)
    try:
        # 12 request threads and the event streams' readers (this server runs no queue
        # workers), and the background users.
        assert server.engine.pool.size() == 12 + EVENT_READ_THREADS + BACKGROUND_CONNECTIONS  # type: ignore[attr-defined]
        # A worker process: its 2 queue threads and the background users.
        assert worker.engine.pool.size() == 2 + BACKGROUND_CONNECTIONS  # type: ignore[attr-defined]
        embedded = _settings(tmp_path).model_copy(
            update={"server": ServerSettings(run_consumer=True, threads=12)}
        )
        both = build_runtime(embedded, serving=True)
        assert both.engine.pool.size() == 12 + EVENT_READ_THREADS + 2 + BACKGROUND_CONNECTIONS  # type: ignore[attr-defined]
        both.close()
    finally:
        server.close()
        worker.close()


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _api_routes(nested.routes)


def test_every_route_ends_its_unit_of_work_on_the_endpoints_thread(tmp_path: Path) -> None:
    """A route outside ``UnitOfWorkRoute`` would hold its connection while its response
    waits for a thread (see pegasus.routing), which deadlocks a busy server."""
    app = create_app(_settings(tmp_path))
    api_routes = list(_api_routes(app.routes))
    assert len(api_routes) > 20
    others = [
        route.path
        for route in api_routes
        if not isinstance(route, UnitOfWorkRoute) and route.path not in FASTAPI_OWN_ROUTES
    ]
    assert others == []


def test_housekeeping_purges_expired_browser_sessions(tmp_path: Path, sqlite_url: str) -> None:
    runtime = build_runtime(_settings(tmp_path, database_url=sqlite_url))
    _signed_in(runtime)
    now = utcnow()
    with unit_of_work(runtime.session_factory) as session:
        user = session.scalars(select(User)).one()
        start_session(session, user, now=now, lifetime=timedelta(hours=1))
        start_session(session, user, now=now, lifetime=timedelta(days=30))
    try:
        assert runtime.purge_expired_web_sessions(now + timedelta(hours=2)) == 1
        with unit_of_work(runtime.session_factory) as session:
            assert session.scalar(select(func.count()).select_from(WebSession)) == 1
    finally:
        runtime.close()
