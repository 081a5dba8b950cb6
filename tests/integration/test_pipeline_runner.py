"""The runner and reconciler against a real SQLite database (migrated by Alembic).

Stages here are small fakes so the state machine is tested without media work: success
chains to the next stage after commit, transient errors retry with backoff, permanent
errors fail at once, a lost lease discards the result, the reconciler recovers lost work.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.accounts.service import create_user
from pegasus.config import DatabaseSettings, QueueSettings, Settings
from pegasus.courses.service import create_course, sync_builtin_presets
from pegasus.db.migrate import upgrade
from pegasus.db.models import Lecture, StageName, StageRun
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.errors import CorruptMediaError, PegasusError, StorageUnavailableError
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline import transitions
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.runner import StageRunner
from pegasus.queue.reconciler import reconcile
from pegasus.storage.base import StoredObject
from pegasus.storage.local import LocalObjectStore
from pegasus.testing import FakeClock, RecordingDispatcher


class ScriptedStage:
    """Raises the scripted errors in order, then succeeds with one artifact."""

    def __init__(self, name: str, errors: list[PegasusError] | None = None) -> None:
        self.name = name
        self.errors = list(errors or [])
        self.calls = 0

    def run(self, ctx: StageContext) -> StageResult:
        self.calls += 1
        ctx.report_progress(0.5, "halfway")
        if self.errors:
            raise self.errors.pop(0)
        stored = ctx.store.put_bytes(ctx.key(f"{self.name}.txt"), self.name.encode())
        return StageResult(
            artifacts=[ArtifactOut(kind=self.name, stored=stored, content_type="text/plain")],
            duration_seconds=12.5 if self.name == "ingest" else None,
        )


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(
            database=DatabaseSettings(url=SecretStr(f"sqlite:///{tmp_path / 'p.db'}")),
            queue=QueueSettings(max_attempts=3, lease_seconds=30),
        )
        self.engine = build_engine(self.settings.database)
        upgrade(self.engine)
        self.factory: sessionmaker[Session] = build_session_factory(self.engine)
        self.clock = FakeClock()
        self.dispatcher = RecordingDispatcher()
        self.store = LocalObjectStore(tmp_path / "objects")
        self.stages: dict[str, ScriptedStage] = {s.value: ScriptedStage(s.value) for s in StageName}
        self.metrics = PipelineMetrics(CollectorRegistry())
        self.runner = StageRunner(
            settings=self.settings,
            session_factory=self.factory,
            store=self.store,
            dispatcher=self.dispatcher,
            stages=self.stages,
            metrics=self.metrics,
            clock=self.clock,
            rng=random.Random(7),
        )
        with unit_of_work(self.factory) as session:
            sync_builtin_presets(session)
            user = create_user(session, "runner@example.org", "long enough password")
            course = create_course(session, user.id, "Course")
            lecture = Lecture(
                course_id=course.id, owner_id=user.id, title="T", preset_key="quick-review"
            )
            session.add(lecture)
            session.flush()
            transitions.queue_stage(
                session, self.dispatcher, lecture, StageName.INGEST, now=self.clock()
            )
            self.lecture_id = lecture.id

    def drain(self, limit: int = 20) -> None:
        """Run whatever was sent, in order, ignoring delays, until nothing is left."""
        for _ in range(limit):
            sent = self.dispatcher.take()
            if not sent:
                return
            for stage_run_id, _delay in sent:
                self.runner.run(stage_run_id)
        raise AssertionError("the pipeline did not settle")

    def runs(self) -> list[tuple[str, int, str, str | None]]:
        with unit_of_work(self.factory) as session:
            rows = session.scalars(
                select(StageRun).where(StageRun.lecture_id == self.lecture_id)
            ).all()
            order = list(StageName)
            rows = sorted(rows, key=lambda r: (order.index(StageName(r.stage)), r.attempt))
            return [(r.stage, r.attempt, r.status, r.error_code) for r in rows]

    def lecture(self) -> Lecture:
        with unit_of_work(self.factory) as session:
            lecture = session.get(Lecture, self.lecture_id)
            assert lecture is not None
            return lecture


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.engine.dispose()


def test_success_runs_every_stage_in_order_and_records_artifacts(harness: Harness) -> None:
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


def test_transient_error_retries_with_growing_backoff_then_succeeds(harness: Harness) -> None:
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


def test_transient_errors_stop_after_max_attempts(harness: Harness) -> None:
    harness.stages[StageName.INGEST].errors = [StorageUnavailableError() for _ in range(5)]
    harness.drain()
    assert [r[2] for r in harness.runs()] == ["failed", "failed", "failed"]
    assert harness.lecture().status == "failed"


def test_permanent_error_fails_the_lecture_at_once(harness: Harness) -> None:
    harness.stages[StageName.INGEST].errors = [CorruptMediaError()]
    harness.drain()
    assert harness.runs() == [("ingest", 1, "failed", "media.corrupt")]
    assert harness.lecture().status == "failed"
    assert harness.stages[StageName.TRANSCRIBE].calls == 0


def test_a_message_for_a_run_already_taken_does_nothing(harness: Harness) -> None:
    ((stage_run_id, _),) = harness.dispatcher.take()
    harness.runner.run(stage_run_id)
    harness.runner.run(stage_run_id)  # a duplicate message
    assert harness.stages[StageName.INGEST].calls == 1


def test_reconciler_fails_expired_lease_and_queues_a_new_attempt(harness: Harness) -> None:
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


def test_reconciler_resends_queued_runs_whose_message_was_lost(harness: Harness) -> None:
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


def test_lost_lease_discards_the_stage_result(harness: Harness) -> None:
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


def test_reconciler_leaves_a_run_whose_lease_was_renewed(harness: Harness) -> None:
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
