"""The runner and reconciler against real SQLite and PostgreSQL databases (each migrated by
Alembic, a fresh one per test).

Stages here are small fakes so the state machine is tested without media work: success
chains to the next stage after commit, transient errors retry with backoff, permanent
errors fail at once, a lost lease discards the result, the reconciler recovers lost work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pegasus.db.models import StageName, StageRun
from pegasus.db.session import unit_of_work
from pegasus.errors import CorruptMediaError, StorageUnavailableError
from pegasus.pipeline import transitions
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.reconciler import reconcile
from pegasus.storage.base import StoredObject
from tests.factories import BACKENDS, PipelineHarness, ScriptedStage


@pytest.fixture(params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[PipelineHarness]:
    """The state machine on a fresh, migrated database of each kind."""
    h = PipelineHarness(new_database(request.param), tmp_path)
    yield h
    h.close()


def test_success_runs_every_stage_in_order_and_records_artifacts(harness: PipelineHarness) -> None:
    harness.drain()
    assert harness.runs() == [
        ("ingest", 1, "succeeded", None),
        ("transcribe", 1, "succeeded", None),
        ("generate", 1, "succeeded", None),
        ("export", 1, "succeeded", None),
    ]
    lecture = harness.lecture()
    assert lecture.status == "succeeded"
    assert lecture.duration_seconds == 12.5
    assert lecture.finished_at == harness.clock()
    keys = sorted(o.key.rsplit("/", 1)[1] for o in harness.store.list_prefix("courses/"))
    assert keys == ["export.txt", "generate.txt", "ingest.txt", "transcribe.txt"]
    assert harness.metrics.stage_runs.labels("export", "succeeded")._value.get() == 1


def test_transient_error_retries_with_growing_backoff_then_succeeds(
    harness: PipelineHarness,
) -> None:
    harness.stages[StageName.TRANSCRIBE].errors = [
        StorageUnavailableError(),
        StorageUnavailableError(),
    ]
    delays: list[float] = []
    for _ in range(10):
        sent = harness.dispatcher.take()
        if not sent:
            break
        for stage_run_id, delay in sent:
            delays.append(delay)
            harness.runner.run(stage_run_id)
    assert harness.runs()[1:4] == [
        ("transcribe", 1, "failed", "storage.unavailable"),
        ("transcribe", 2, "failed", "storage.unavailable"),
        ("transcribe", 3, "succeeded", None),
    ]
    retry_delays = [d for d in delays if d > 0]
    assert len(retry_delays) == 2
    base = harness.settings.queue.retry_base_seconds
    assert base / 2 <= retry_delays[0] <= base
    assert base <= retry_delays[1] <= 2 * base
    assert harness.lecture().status == "succeeded"


def test_transient_errors_stop_after_max_attempts(harness: PipelineHarness) -> None:
    harness.stages[StageName.INGEST].errors = [StorageUnavailableError() for _ in range(5)]
    harness.drain()
    assert [r[2] for r in harness.runs()] == ["failed", "failed", "failed"]
    assert harness.lecture().status == "failed"


def test_permanent_error_fails_the_lecture_at_once(harness: PipelineHarness) -> None:
    harness.stages[StageName.INGEST].errors = [CorruptMediaError()]
    harness.drain()
    assert harness.runs() == [("ingest", 1, "failed", "media.corrupt")]
    assert harness.lecture().status == "failed"
    assert harness.stages[StageName.TRANSCRIBE].calls == 0


def test_a_message_for_a_run_already_taken_does_nothing(harness: PipelineHarness) -> None:
    ((stage_run_id, _),) = harness.dispatcher.take()
    harness.runner.run(stage_run_id)
    harness.runner.run(stage_run_id)  # a duplicate message
    assert harness.stages[StageName.INGEST].calls == 1


def test_reconciler_fails_expired_lease_and_queues_a_new_attempt(harness: PipelineHarness) -> None:
    ((stage_run_id, _),) = harness.dispatcher.take()
    with unit_of_work(harness.factory) as session:  # a worker claims it, then dies
        assert (
            transitions.claim(
                session, stage_run_id, worker_id="dead", now=harness.clock(), lease_seconds=30
            )
            is not None
        )
    harness.clock.advance(10)
    with unit_of_work(harness.factory) as session:
        report = reconcile(
            session,
            harness.dispatcher,
            now=harness.clock(),
            settings=harness.settings.queue,
            rng=random.Random(1),
        )
    assert report.lost == 0, "a live lease must be left alone"
    harness.clock.advance(30)
    with unit_of_work(harness.factory) as session:
        report = reconcile(
            session,
            harness.dispatcher,
            now=harness.clock(),
            settings=harness.settings.queue,
            rng=random.Random(1),
        )
    assert report.lost == 1
    assert harness.runs() == [("ingest", 1, "failed", "worker.lost"), ("ingest", 2, "queued", None)]
    harness.drain()
    assert harness.lecture().status == "succeeded"


def test_reconciler_resends_queued_runs_whose_message_was_lost(harness: PipelineHarness) -> None:
    harness.dispatcher.take()  # the broker lost the message
    harness.clock.advance(harness.settings.queue.requeue_after_seconds - 1)
    with unit_of_work(harness.factory) as session:
        assert (
            reconcile(
                session,
                harness.dispatcher,
                now=harness.clock(),
                settings=harness.settings.queue,
                rng=random.Random(1),
            ).resent
            == 0
        )
    assert harness.dispatcher.sent == []
    harness.clock.advance(2)
    with unit_of_work(harness.factory) as session:
        assert (
            reconcile(
                session,
                harness.dispatcher,
                now=harness.clock(),
                settings=harness.settings.queue,
                rng=random.Random(1),
            ).resent
            == 1
        )
    assert len(harness.dispatcher.sent) == 1
    harness.drain()
    assert harness.lecture().status == "succeeded"


def test_lost_lease_discards_the_stage_result(harness: PipelineHarness) -> None:
    ((stage_run_id, _),) = harness.dispatcher.take()

    class Stolen(ScriptedStage):
        def run(self, ctx: StageContext) -> StageResult:
            with unit_of_work(harness.factory) as session:  # the reconciler took it over
                run = session.get(StageRun, ctx.stage_run_id)
                assert run is not None
                run.worker_id = "someone-else"
            return StageResult(
                artifacts=[
                    ArtifactOut(
                        kind="ingest", stored=StoredObject(key="x", size_bytes=1), content_type="x"
                    )
                ]
            )

    harness.runner.stages = {**harness.stages, "ingest": Stolen("ingest")}
    harness.runner.run(stage_run_id)
    assert harness.runs() == [("ingest", 1, "running", None)]
    assert harness.dispatcher.sent == []


def test_reconciler_leaves_a_run_whose_lease_was_renewed(harness: PipelineHarness) -> None:
    ((stage_run_id, _),) = harness.dispatcher.take()
    with unit_of_work(harness.factory) as session:
        run = transitions.claim(
            session, stage_run_id, worker_id="alive", now=harness.clock(), lease_seconds=30
        )
        assert run is not None
    harness.clock.advance(10)
    with unit_of_work(harness.factory) as session:  # seen as expired, but renewed since
        run = session.get(StageRun, stage_run_id)
        assert run is not None
        outcome = transitions.record_failure(
            session,
            harness.dispatcher,
            run,
            CorruptMediaError(),
            worker_id=None,
            now=harness.clock(),
            settings=harness.settings.queue,
            rng=random.Random(1),
        )
    assert outcome is None
    assert harness.runs() == [("ingest", 1, "running", None)]
