"""/readyz names the part that is down; every response carries a request id."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus_testkit.ports import free_port

ClientFactory = Callable[..., TestClient]


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    base = Settings(
        database=DatabaseSettings(url=SecretStr(f"sqlite:///{tmp_path / 'p.db'}")),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    return base.model_copy(update=overrides)


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[ClientFactory]:
    clients: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = TestClient(create_app(_settings(tmp_path, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_ready_when_everything_answers(client_for: ClientFactory, tmp_path: Path) -> None:
    client = client_for()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "storage": "ok", "queue": "ok"}


@pytest.mark.redis
def test_unreachable_queue_is_named(client_for: ClientFactory) -> None:
    closed = free_port()
    client = client_for(queue=QueueSettings(url=f"redis://127.0.0.1:{closed}/0"))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["queue"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"
    assert body["error"] == {  # the same error body as every other answer
        "code": "service.unavailable",
        "message": "Not ready: queue unreachable.",
        "request_id": response.headers["X-Request-ID"],
    }


@pytest.mark.postgres
def test_unreachable_database_is_named(client_for: ClientFactory) -> None:
    closed = free_port()
    url = SecretStr(f"postgresql+psycopg://postgres@127.0.0.1:{closed}/pegasus")
    client = client_for(database=DatabaseSettings(url=url))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Not ready: database unreachable."


def test_unreachable_storage_is_named(client_for: ClientFactory) -> None:
    closed = free_port()
    storage = StorageSettings(
        backend="s3",
        s3_endpoint_url=f"http://127.0.0.1:{closed}",
        s3_access_key_id=SecretStr("k"),
        s3_secret_access_key=SecretStr("storage-secret"),
    )
    client = client_for(storage=storage)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Not ready: storage unreachable."


def test_request_id_is_echoed_or_made(client_for: ClientFactory) -> None:
    client = client_for()
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    missing = client.get("/api/v1/nothing-here", headers={"X-Request-ID": "req-9"})
    assert missing.status_code == 404
    assert missing.json()["error"]["request_id"] == "req-9"


def test_oversized_bodies_are_refused_before_parsing(client_for: ClientFactory) -> None:
    client = client_for()
    declared = client.post(
        "/api/v1/courses",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "request.too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    streamed = client.post(
        "/api/v1/courses", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "request.too_large"
