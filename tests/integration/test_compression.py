"""Pages, scripts and JSON go out gzip-compressed to clients that accept it; what is already
compressed, or must not be buffered, does not."""

from __future__ import annotations

from collections.abc import Iterator
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
from pegasus.runtime import build_runtime

GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def client(tmp_path: Path, sqlite_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(sqlite_url)),  # a clone of the migrated template
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    runtime = build_runtime(settings, serving=True)
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path", ["/login", "/static/css/app.css", "/static/js/api.js", "/openapi.json"]
)
def test_text_is_sent_compressed(client: TestClient, path: str) -> None:
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    packed = client.get(path, headers=GZIP)

    assert packed.status_code == plain.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert packed.content == plain.content  # httpx inflates it again
    assert int(packed.headers["content-length"]) < len(plain.content) / 2


def test_ready_compressed_and_ranged_bodies_are_not(client: TestClient) -> None:
    icon = client.get("/static/icons/icon-512.png", headers=GZIP)
    assert icon.status_code == 200
    assert "content-encoding" not in icon.headers
    ranged = client.get("/static/js/api.js", headers={**GZIP, "Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert "content-encoding" not in ranged.headers
    assert len(ranged.content) == 100
