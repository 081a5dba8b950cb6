"""PostgreSQL unreachable while the API serves and a worker runs a stage, then back.

The server and the worker reach PostgreSQL through a TCP proxy the test controls
(``pegasus_testkit.tcp_proxy``). Cutting it resets every open connection and black-holes new
ones (the server never answers, the worst case for a client): readiness must answer 503
naming the database and no request may hang past its timeouts; after the restore readiness
recovers, a request served by a pooled connection that died in the outage succeeds, and the
stage that was running completes in its own attempt, its result written once the database
is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from pegasus.config import DatabaseSettings
from pegasus.db.session import build_engine
from pegasus.errors import database_unavailable
from pegasus.storage.keys import lecture_prefix
from pegasus_testkit.deployment import Api, Deployment, scaled_deployment
from pegasus_testkit.integrity import audit_lectures, file_sha256, store_for
from pegasus_testkit.lectures import Recordings
from pegasus_testkit.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CONNECT_TIMEOUT_SECONDS = 2
#: The longest a request may take while the database is cut off: a connection attempt that
#: times out, plus the wait for a free pooled connection, plus slack for a busy machine.
REQUEST_LIMIT_SECONDS = CONNECT_TIMEOUT_SECONDS + 2 + 4
#: How long the database stays away after the running stage stored its result: the lease
#: keeper's last renewal and the first tries of the final write each wait out a connect
#: timeout in that time.
WRITE_OUTAGE_SECONDS = 2 * CONNECT_TIMEOUT_SECONDS + 1
#: Far longer than the outage (the stage runs slower in it: each progress report waits out
#: a connect timeout), so the running stage keeps its lease through it.
LEASE_SECONDS = 60


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        yield proxy


@pytest.fixture
def scaled(tmp_path: Path, s3_endpoint: str, postgres_proxy: TcpProxy) -> Iterator[Deployment]:
    env = {
        "PEGASUS_DATABASE_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT_SECONDS),
        "PEGASUS_QUEUE_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    with scaled_deployment(
        tmp_path, s3_endpoint, workers=1, database_port=postgres_proxy.port, env=env
    ) as deployment:
        yield deployment


@pytest.fixture
def api(scaled: Deployment) -> Iterator[Api]:
    """A signed-in client of the deployment, closed even when the test fails."""
    client = Api(scaled, scaled.create_user("database-outage@example.org"))
    yield client
    client.close()


def _timed_get(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def _wait_for_stage(api: Api, lecture_id: str, stage: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stages = {s["stage"]: s for s in api.lecture(lecture_id)["stages"]}
        if stages.get(stage, {}).get("status") == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{stage} never became {status}: {api.lecture(lecture_id)}")


def test_database_outage_is_reported_bounded_and_survived(
    scaled: Deployment, api: Api, postgres_proxy: TcpProxy, recordings: Recordings
) -> None:
    # Requests give up well after REQUEST_LIMIT_SECONDS: a hang shows as a timeout here.
    api.client.timeout = httpx.Timeout(REQUEST_LIMIT_SECONDS * 3)
    course = api.create_course("Database outage")

    # A blip while the API is idle: its pooled connections die; the next request must not.
    postgres_proxy.cut()
    postgres_proxy.restore()
    assert api.client.get(f"/api/v1/courses/{course['id']}").status_code == 200

    response = api.upload(course["id"], recordings.lecture_wav, content_type="audio/wav")
    assert response.status_code == 202, response.text
    lecture_id = response.json()["id"]
    _wait_for_stage(api, lecture_id, "transcribe", "running")
    postgres_proxy.cut("blackhole")
    try:
        ready, seconds = _timed_get(api.client, "/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"].startswith("unreachable")
        assert ready.json()["error"]["message"] == "Not ready: database unreachable."
        assert seconds < REQUEST_LIMIT_SECONDS, f"/readyz took {seconds:.1f} s"
        lecture, seconds = _timed_get(api.client, f"/api/v1/lectures/{lecture_id}")
        assert seconds < REQUEST_LIMIT_SECONDS, f"a lecture request took {seconds:.1f} s"
        assert lecture.status_code == 503, lecture.text
        assert lecture.json()["error"]["code"] != "internal.error", lecture.text
        # The stage ran on through the outage: wait for what it stored, then keep the
        # database away while its final write tries (each try waits out a connect timeout).
        _wait_for_object(scaled, lecture_id, course["id"], "transcript")
        time.sleep(WRITE_OUTAGE_SECONDS)
    finally:
        postgres_proxy.restore()
    assert postgres_proxy.held >= 1, "nobody met the outage"

    ready, seconds = _timed_get(api.client, "/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready"), ready.text
    finished = api.wait_for(lecture_id, timeout=60)
    assert finished["status"] == "succeeded", scaled.logs()
    transcribe = next(s for s in finished["stages"] if s["stage"] == "transcribe")
    assert (transcribe["attempt"], transcribe["status"]) == (1, "succeeded"), (
        f"the stage in flight was run again instead of recorded: {transcribe}\n{scaled.logs()}"
    )
    worker_log = scaled.workers[0].full_output()
    assert "pipeline.stage.record_retrying" in worker_log, "the final write met no outage"
    sources = {lecture_id: file_sha256(recordings.lecture_wav)}
    with store_for(scaled.env) as store:
        assert audit_lectures(scaled.database_url, store, sources) == []


def _wait_for_object(deployment: Deployment, lecture_id: str, course_id: str, word: str) -> None:
    prefix = lecture_prefix(course_id, lecture_id)
    deadline = time.monotonic() + 60
    with store_for(deployment.env) as store:
        while time.monotonic() < deadline:
            if any(word in stored.key for stored in store.list_prefix(prefix)):
                return
            time.sleep(0.1)
    raise AssertionError(f"no {word} object under {prefix}:\n{deployment.logs()}")


def test_a_statement_past_its_timeout_is_cancelled_as_a_transient_fault(postgres_url: str) -> None:
    settings = DatabaseSettings(url=SecretStr(postgres_url), statement_timeout_seconds=0.5)
    engine = build_engine(settings)
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError) as caught, engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(10)"))
    finally:
        engine.dispose()
    assert time.monotonic() - started < 5, "the server did not cancel the statement"
    assert database_unavailable(caught.value) is not None, "a stage would not retry it"
