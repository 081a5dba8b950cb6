"""A worker killed mid-stage: the reconciler hands the stage to another worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from pegasus.db.models import StageRun
from pegasus_testkit.deployment import Api, Deployment, scaled_deployment
from pegasus_testkit.integrity import audit_lectures, file_sha256, store_for
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def scaled(tmp_path: Path, s3_endpoint: str) -> Iterator[Deployment]:
    with scaled_deployment(tmp_path, s3_endpoint, workers=1) as deployment:
        yield deployment


def _wait_until_running(api: Api, lecture_id: str, stage: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages = {s["stage"]: s for s in api.lecture(lecture_id)["stages"]}
        if stages.get(stage, {}).get("status") == "running":
            return
        time.sleep(0.1)
    raise AssertionError(f"{stage} never ran: {api.lecture(lecture_id)}")


def test_killed_worker_stage_is_taken_over(scaled: Deployment, recordings: Recordings) -> None:
    api = Api(scaled, scaled.create_user("night-owl@example.org"))
    course = api.create_course("Late lectures")
    response = api.upload(course["id"], recordings.long_wav, content_type="audio/wav")
    assert response.status_code == 202, response.text
    lecture_id = response.json()["id"]

    _wait_until_running(api, lecture_id, "transcribe")
    first_worker = scaled.workers[0]
    first_worker.kill()
    killed_at = time.monotonic()
    second_worker = scaled.start_worker()

    lecture = api.wait_for(lecture_id)
    transcript = api.client.get(f"/api/v1/lectures/{lecture_id}/transcript").json()
    api.close()
    assert lecture["status"] == "succeeded", scaled.logs()
    assert transcript["segments"][-1]["end"] > 100, "the whole recording was transcribed"
    transcribe = next(s for s in lecture["stages"] if s["stage"] == "transcribe")
    assert (transcribe["attempt"], transcribe["status"], transcribe["error"]) == (
        2,
        "succeeded",
        None,
    )
    assert time.monotonic() - killed_at < 180

    engine = create_engine(scaled.env["PEGASUS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            runs = session.scalars(
                select(StageRun)
                .where(StageRun.lecture_id == lecture_id, StageRun.stage == "transcribe")
                .order_by(StageRun.attempt)
            ).all()
    finally:
        engine.dispose()
    assert [(r.attempt, r.status, r.error_code) for r in runs] == [
        (1, "failed", "worker.lost"),
        (2, "succeeded", None),
    ]
    # Worker ids are host:pid:run; the lost attempt was the killed process's, the second
    # attempt ran in the worker started afterwards.
    assert [_pid(r.worker_id) for r in runs] == [
        first_worker.process.pid,
        second_worker.process.pid,
    ]
    lost, retried = runs
    assert lost.error_message
    assert lost.finished_at is not None
    assert retried.started_at is not None
    assert retried.started_at >= lost.finished_at, "re-run only after the loss was recorded"
    # Nothing the killed worker had begun is doubled or lost.
    sources = {lecture_id: file_sha256(recordings.long_wav)}
    with store_for(scaled.env) as store:
        assert audit_lectures(scaled.database_url, store, sources) == []


def _pid(worker_id: str | None) -> int:
    assert worker_id is not None
    return int(worker_id.split(":")[-2])
