"""The broker restarted, keeping nothing: the reconciler re-sends what the database says is
still to run, and every lecture finishes with nothing lost or doubled.

The test owns its Redis (``pegasus_testkit.redis_server``: no persistence), so restarting it
drops every message that waited in it, while lectures are queued and one is running.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from pegasus.db.models import StageRun
from pegasus_testkit.deployment import Api, Deployment, scaled_deployment
from pegasus_testkit.integrity import audit_lectures, file_sha256, store_for
from pegasus_testkit.lectures import Recordings
from pegasus_testkit.redis_server import RedisServer, redis_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

#: A queued stage whose message is lost is re-sent after this long (the default is minutes).
REQUEUE_AFTER_SECONDS = 2


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def scaled(tmp_path: Path, s3_endpoint: str, broker: RedisServer) -> Iterator[Deployment]:
    env = {"PEGASUS_QUEUE_REQUEUE_AFTER_SECONDS": str(REQUEUE_AFTER_SECONDS)}
    with scaled_deployment(
        tmp_path, s3_endpoint, workers=1, queue_url=broker.url, env=env
    ) as deployment:
        yield deployment


@pytest.fixture
def api(scaled: Deployment) -> Iterator[Api]:
    """A signed-in client of the deployment, closed even when the test fails."""
    client = Api(scaled, scaled.create_user("broker-restart@example.org"))
    yield client
    client.close()


def _run_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(StageRun.status, func.count()).group_by(StageRun.status))
    return {status: int(count) for status, count in rows}


def _wait_for_queued_and_running(database_url: str, timeout: float = 60) -> dict[str, int]:
    """Poll until one stage runs while others wait in the queue; return the counts."""
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with Session(engine) as session:
                counts = _run_counts(session)
            if counts.get("running", 0) >= 1 and counts.get("queued", 0) >= 1:
                return counts
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"never saw a running and a queued stage at once: {counts}")


def test_broker_restart_loses_messages_and_every_lecture_still_finishes(
    scaled: Deployment, api: Api, broker: RedisServer, recordings: Recordings
) -> None:
    course = api.create_course("Restarted broker")
    clips = [recordings.lecture_wav, recordings.lecture_m4a]  # one runs, one waits
    sources: dict[str, str] = {}
    for clip in clips:
        response = api.upload(course["id"], clip)
        assert response.status_code == 202, response.text
        sources[response.json()["id"]] = file_sha256(clip)

    counts = _wait_for_queued_and_running(scaled.database_url)
    client = redis.Redis.from_url(broker.url)
    try:
        waiting = sum(
            client.llen(key) for key in client.scan_iter("*") if client.type(key) == b"list"
        )
        broker.restart()  # empty: every message that waited is gone
        assert client.dbsize() == 0, "the restarted broker must start empty"
    finally:
        client.close()
    assert waiting >= 1, f"no message waited in the broker when it restarted ({counts})"

    lectures = [api.wait_for(lecture_id, timeout=60) for lecture_id in sources]
    assert [lecture["status"] for lecture in lectures] == ["succeeded"] * len(clips), scaled.logs()
    with store_for(scaled.env) as store:
        assert audit_lectures(scaled.database_url, store, sources) == []
    # The lost messages came back from the database, not from the broker.
    assert "queue.reconciler.resent" in "".join(w.full_output() for w in scaled.workers)
