"""Logs are events: one per stage transition with its ids, and request ids on HTTP lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    LogSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.errors import StorageUnavailableError
from pegasus.observability.logging import configure_logging
from tests.factories import PipelineHarness


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """JSON logging into a buffer the test reads back; restored afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(LogSettings(level="INFO", json_output=True), stream=stream)
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_each_stage_transition_is_one_event_with_ids(
    tmp_path: Path, sqlite_url: str, log_stream: io.StringIO
) -> None:
    harness = PipelineHarness(sqlite_url, tmp_path)
    harness.stages["generate"].errors = [StorageUnavailableError()]
    harness.drain()
    events = _events(log_stream)
    transitions = [e for e in events if str(e["event"]).startswith("pipeline.stage.")]
    generate = [e for e in transitions if e["stage"] == "generate"]
    assert [(e["event"], e["attempt"]) for e in generate] == [
        ("pipeline.stage.queued", 1),
        ("pipeline.stage.started", 1),
        ("pipeline.stage.queued", 2),  # the retry, queued in the failure's transaction
        ("pipeline.stage.finished", 1),
        ("pipeline.stage.started", 2),
        ("pipeline.stage.finished", 2),
    ]
    assert generate[2]["delay_seconds"] > 0
    retried = generate[3]
    assert retried["outcome"] == "retried"
    assert retried["error_code"] == "storage.unavailable"
    assert isinstance(retried["seconds"], float)
    assert all(e["lecture_id"] == harness.lecture_id for e in transitions)
    assert all(e["level"] in ("info", "warning") and "timestamp" in e for e in transitions)
    harness.engine.dispose()


def test_http_lines_carry_the_request_id(tmp_path: Path, log_stream: io.StringIO) -> None:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(f"sqlite:///{tmp_path / 'p.db'}")),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    requests = [e for e in _events(log_stream) if e["event"] == "http.request"]
    assert requests == [
        {
            "event": "http.request",
            "method": "GET",
            "route": "/healthz",
            "status": 200,
            "seconds": requests[0]["seconds"],
            "request_id": "trace-42",
            "level": "info",
            "logger": "pegasus.middleware",
            "timestamp": requests[0]["timestamp"],
        }
    ]
