"""The same stage message delivered twice, and two workers taking the same stage at once:
each stage runs once, and no artifact is recorded or stored twice.

Two cases: two runners released at the same instant into the claim of every stage of a
lecture (threads and a barrier, on SQLite and PostgreSQL), and a real scaled deployment
whose two worker processes get every stage message twice through Redis.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from huey import RedisHuey
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from pegasus.db.models import StageName, StageRun
from pegasus.pipeline import transitions
from pegasus.pipeline.runner import StageRunner
from pegasus.queue.dispatch import HueyDispatcher
from pegasus_testkit.deployment import Api, Deployment, scaled_deployment
from pegasus_testkit.integrity import audit_lectures, file_sha256, store_for
from pegasus_testkit.lectures import Recordings
from tests.factories import ARTIFACT_KINDS, BACKENDS, PipelineHarness

WORKERS = 2
#: What the harness's scripted stages record, one kind per stage.
HARNESS_KINDS = frozenset(ARTIFACT_KINDS.get(s.value, s.value) for s in StageName)


@pytest.fixture(params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[PipelineHarness]:
    h = PipelineHarness(new_database(request.param), tmp_path, threads=WORKERS)
    yield h
    h.close()


def _second_runner(harness: PipelineHarness) -> StageRunner:
    """Another worker over the same database, store and stages."""
    first = harness.runner
    return StageRunner(
        queue=first.queue,
        session_factory=first.session_factory,
        store=first.store,
        dispatcher=first.dispatcher,
        stages=first.stages,
        metrics=first.metrics,
        resolve_preset=first.resolve_preset,
        on_transcript=first.on_transcript,
        clock=first.clock,
    )


def test_two_workers_claiming_every_stage_at_once_run_it_once(
    harness: PipelineHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    barrier = threading.Barrier(WORKERS, timeout=30)
    real_claim = transitions.claim

    def claim_together(*args: Any, **kwargs: Any) -> StageRun | None:
        barrier.wait()  # both workers hold the same message and claim at the same instant
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(transitions, "claim", claim_together)
    runners = [harness.runner, _second_runner(harness)]
    errors: list[BaseException] = []

    def work(runner: StageRunner, stage_run_id: str) -> None:
        try:
            runner.run(stage_run_id)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    for _ in range(len(StageName)):
        ((stage_run_id, _delay),) = harness.dispatcher.take()
        threads = [threading.Thread(target=work, args=(r, stage_run_id)) for r in runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a worker hung"
    assert errors == []
    assert harness.dispatcher.take() == []

    assert {name: stage.calls for name, stage in harness.stages.items()} == {
        s.value: 1 for s in StageName
    }, "a stage ran twice"
    assert harness.runs() == [(s.value, 1, "succeeded", None) for s in StageName]
    assert harness.lecture().status == "succeeded"
    database_url = harness.settings.database.url.get_secret_value()
    sources: dict[str, str | None] = {harness.lecture_id: None}
    assert audit_lectures(database_url, harness.store, sources, succeeded_kinds=HARNESS_KINDS) == []


# --- a real deployment: every message delivered twice to two worker processes -------------


@pytest.fixture
def scaled(tmp_path: Path, s3_endpoint: str) -> Iterator[Deployment]:
    with scaled_deployment(tmp_path, s3_endpoint, workers=WORKERS) as deployment:
        yield deployment


@pytest.fixture
def api(scaled: Deployment) -> Iterator[Api]:
    """A signed-in client of the deployment, closed even when the test fails."""
    client = Api(scaled, scaled.create_user("duplicates@example.org"))
    yield client
    client.close()


def _log_events(deployment: Deployment, event: str) -> list[dict[str, Any]]:
    found = []
    for worker in deployment.workers:
        for line in worker.full_output().splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                record = json.loads(line)
                if record.get("event") == event:
                    found.append(record)
    return found


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_every_stage_message_delivered_twice_to_two_workers(
    scaled: Deployment, api: Api, recordings: Recordings
) -> None:
    course = api.create_course("Twice delivered")
    response = api.upload(course["id"], recordings.lecture_wav, content_type="audio/wav")
    assert response.status_code == 202, response.text
    lecture_id = response.json()["id"]

    # A second copy of each stage's message, sent the moment its run is queued, so the
    # two workers take the two copies at once.
    huey = RedisHuey(scaled.env["PEGASUS_QUEUE_NAME"], url=scaled.env["PEGASUS_QUEUE_URL"])
    duplicator = HueyDispatcher(huey, lambda _stage_run_id: None)
    engine = create_engine(scaled.database_url)
    duplicated: set[str] = set()
    deadline = time.monotonic() + 90
    try:
        while len(duplicated) < len(StageName) and time.monotonic() < deadline:
            with Session(engine) as session:
                ids = session.scalars(
                    select(StageRun.id).where(StageRun.lecture_id == lecture_id)
                ).all()
            for stage_run_id in set(ids) - duplicated:
                duplicator.send(stage_run_id)
                duplicated.add(stage_run_id)
            time.sleep(0.02)
    finally:
        engine.dispose()
        huey.storage.conn.close()
    assert len(duplicated) == len(StageName), f"only {len(duplicated)} runs were seen"

    lecture = api.wait_for(lecture_id, timeout=60)
    assert lecture["status"] == "succeeded", scaled.logs()
    assert [(s["stage"], s["attempt"], s["status"]) for s in lecture["stages"]] == [
        (s.value, 1, "succeeded") for s in StageName
    ]
    # Each of the 2 x 4 deliveries either started its stage or was skipped as taken.
    deadline = time.monotonic() + 20
    while True:
        started = Counter(e["stage_run_id"] for e in _log_events(scaled, "pipeline.stage.started"))
        skipped = len(_log_events(scaled, "pipeline.stage.skipped"))
        if sum(started.values()) + skipped >= 2 * len(StageName):
            break
        assert time.monotonic() < deadline, f"deliveries unaccounted: {started}, {skipped}"
        time.sleep(0.2)
    assert sorted(started.values()) == [1] * len(StageName), f"a stage ran twice: {started}"
    assert skipped == len(StageName)
    sources = {lecture_id: file_sha256(recordings.lecture_wav)}
    with store_for(scaled.env) as store:
        assert audit_lectures(scaled.database_url, store, sources) == []
