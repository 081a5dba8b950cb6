"""The runner and reconciler against real SQLite and PostgreSQL databases (each migrated by
Alembic, a fresh one per test).

Stages here are small fakes so the state machine is tested without media work: success
chains to the next stage after commit, transient errors retry with backoff, permanent
errors fail at once, a lost lease discards the result, the reconciler recovers lost work.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, make_url, select, text
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from pegasus.db.models import StageName, StageRun
from pegasus.db.session import unit_of_work
from pegasus.errors import CorruptMediaError, StorageUnavailableError
from pegasus.pipeline import transitions
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.generate import GenerateStage
from pegasus.pipeline.reconciler import reconcile
from pegasus.pipeline.transcribe import TRANSCRIPT, TRANSCRIPT_NAME
from pegasus.storage.base import StoredObject
from pegasus_testkit.ports import free_port
from tests.factories import BACKENDS, PipelineHarness, ScriptedStage
from tests.transcripts import LECTURE, make_transcript


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


# --- database faults: transient, retried with the queue's policy ----------------------------


class SqliteWriter:
    """Another connection holding SQLite's one write lock (``BEGIN IMMEDIATE``), so every
    other writer meets "database is locked" once its busy timeout runs out."""

    def __init__(self, harness: PipelineHarness) -> None:
        url = make_url(harness.settings.database.url.get_secret_value())
        assert url.database
        self._connection = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        self.holding = False

    def hold(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")
        self.holding = True

    def release(self) -> None:
        if self.holding:
            self._connection.execute("ROLLBACK")
            self.holding = False

    def close(self) -> None:
        self.release()
        self._connection.close()


def _short_busy_timeout(harness: PipelineHarness, milliseconds: int = 300) -> None:
    """The runner's SQLite connections give up waiting for the write lock after a moment."""

    def pragma(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={milliseconds}")

    event.listen(harness.engine, "connect", pragma)
    harness.engine.dispose()


class DatabaseReadingStage(ScriptedStage):
    """A stage that reads the database itself; its first attempt meets a real fault: SQLite
    locked by another writer, or a PostgreSQL server that refuses the connection."""

    def __init__(self, name: str, harness: PipelineHarness) -> None:
        super().__init__(name)
        self._harness = harness

    def run(self, ctx: StageContext) -> StageResult:
        if self.calls == 0:
            self.calls += 1
            self._fault()
        return super().run(ctx)

    def _fault(self) -> None:
        settings = self._harness.settings.database
        if settings.is_sqlite:
            writer = SqliteWriter(self._harness)
            writer.hold()
            engine = create_engine(
                settings.url.get_secret_value(),
                connect_args={"timeout": 0.2, "isolation_level": None},
            )
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                engine.dispose()
                writer.close()
        else:
            refused = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
            try:
                with refused.connect() as connection:
                    connection.execute(text("SELECT 1"))
            finally:
                refused.dispose()


def test_a_stage_whose_database_access_fails_is_retried_and_succeeds(
    harness: PipelineHarness,
) -> None:
    harness.runner.stages = {
        **harness.stages,
        "transcribe": DatabaseReadingStage("transcribe", harness),
    }
    delays: list[float] = []
    for _ in range(10):
        sent = harness.dispatcher.take()
        if not sent:
            break
        for stage_run_id, delay in sent:
            delays.append(delay)
            harness.runner.run(stage_run_id)

    assert harness.runs()[1:3] == [
        ("transcribe", 1, "failed", "database.unavailable"),
        ("transcribe", 2, "succeeded", None),
    ]
    assert harness.lecture().status == "succeeded"
    base = harness.settings.queue.retry_base_seconds  # the queue's backoff, attempt 1
    assert [d for d in delays if d > 0] == [pytest.approx(delays[2])]
    assert base / 2 <= delays[2] <= base
    retries = harness.metrics.stage_retries.labels("transcribe", "database.unavailable")
    assert retries._value.get() == 1


class RecordFault:
    """Makes the runner's final write for ``stage`` fail with a real database fault, the
    first ``times`` times: on PostgreSQL the write's own connection is terminated by the
    server just before it commits; on SQLite another writer holds the lock until the runner
    waits to try again."""

    def __init__(self, harness: PipelineHarness, stage: str, times: int) -> None:
        self.harness = harness
        self.stage = stage
        self.left = times
        self.sqlite = harness.settings.database.is_sqlite
        self.writer: SqliteWriter | None = None
        if self.sqlite:
            _short_busy_timeout(harness)
            self.writer = SqliteWriter(harness)
        else:
            event.listen(harness.factory, "before_commit", self._terminate)

    def stage_finished(self) -> None:
        """Called as the stage returns, before the runner records it."""
        if self.writer is not None and self.left > 0:
            self.writer.hold()

    def runner_waits(self, seconds: float) -> None:
        """The runner's sleep between tries of its final write."""
        if self.writer is not None:
            self.left -= 1
            if self.left <= 0:
                self.writer.release()

    def _terminate(self, session: Session) -> None:
        if self.left <= 0:
            return
        succeeded = session.scalar(
            select(StageRun.id).where(StageRun.stage == self.stage, StageRun.status == "succeeded")
        )
        if succeeded is None:
            return
        self.left -= 1
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    def close(self) -> None:
        self.left = 0
        if self.writer is not None:
            self.writer.close()
        else:
            event.remove(self.harness.factory, "before_commit", self._terminate)


class FinishingStage(ScriptedStage):
    def __init__(self, name: str, fault: RecordFault) -> None:
        super().__init__(name)
        self._fault = fault

    def run(self, ctx: StageContext) -> StageResult:
        result = super().run(ctx)
        self._fault.stage_finished()
        return result


@contextlib.contextmanager
def faulty_record(harness: PipelineHarness, stage: str, times: int) -> Iterator[RecordFault]:
    fault = RecordFault(harness, stage, times)
    harness.runner.sleep = fault.runner_waits
    harness.runner.stages = {**harness.stages, stage: FinishingStage(stage, fault)}
    try:
        yield fault
    finally:
        fault.close()


def test_the_final_write_failing_once_is_tried_again(harness: PipelineHarness) -> None:
    with capture_logs() as logs, faulty_record(harness, "transcribe", times=1):
        harness.drain()

    assert harness.runs() == [
        ("ingest", 1, "succeeded", None),
        ("transcribe", 1, "succeeded", None),
        ("generate", 1, "succeeded", None),
        ("export", 1, "succeeded", None),
    ]
    assert harness.lecture().status == "succeeded"
    (retrying,) = [e for e in logs if e["event"] == "pipeline.stage.record_retrying"]
    assert retrying["error_code"] == "database.unavailable"
    base = harness.settings.queue.retry_base_seconds
    assert base / 2 <= retrying["retry_in_seconds"] <= base  # the queue's one backoff
    assert harness.metrics.stage_runs.labels("transcribe", "succeeded")._value.get() == 1


def test_a_final_write_that_keeps_failing_is_handed_to_the_reconciler(
    harness: PipelineHarness,
) -> None:
    attempts = 4  # the runner's RECORD_ATTEMPTS
    with capture_logs() as logs, faulty_record(harness, "ingest", times=attempts):
        ((stage_run_id, _),) = harness.dispatcher.take()
        harness.runner.run(stage_run_id)

    retrying = [e for e in logs if e["event"] == "pipeline.stage.record_retrying"]
    assert [e["try_number"] for e in retrying] == list(range(1, attempts))
    assert harness.runs() == [("ingest", 1, "running", None)]  # nothing recorded, nothing lost
    (failed,) = [e for e in logs if e["event"] == "pipeline.stage.record_failed"]
    assert failed["tries"] == attempts
    assert failed["handed_to"] == "reconciler"
    # PostgreSQL answered the hand-back: the lease ends at once. SQLite was still locked for
    # it: the lease ends when it expires. Either way the reconciler re-queues the run.
    released = not harness.settings.database.is_sqlite
    assert failed["lease_released"] is released
    harness.clock.advance(1 if released else harness.settings.queue.lease_seconds + 1)
    with unit_of_work(harness.factory) as session:
        report = reconcile(
            session,
            harness.dispatcher,
            now=harness.clock(),
            settings=harness.settings.queue,
            rng=random.Random(1),
        )
    assert report.lost == 1
    harness.drain()
    assert harness.runs()[:2] == [
        ("ingest", 1, "failed", "worker.lost"),
        ("ingest", 2, "succeeded", None),
    ]
    assert harness.lecture().status == "succeeded"


# --- a stored object that is missing or damaged: a specific code, not internal.error --------


class StoredTranscriptStage:
    """Stands in for transcribe: stores a transcript as the real stage does."""

    name = "transcribe"

    def run(self, ctx: StageContext) -> StageResult:
        stored = ctx.store.put_bytes(
            ctx.output_key(TRANSCRIPT, TRANSCRIPT_NAME),
            make_transcript(LECTURE).model_dump_json().encode(),
        )
        return StageResult(
            artifacts=[ArtifactOut(kind=TRANSCRIPT, stored=stored, content_type="text/json")]
        )


@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_a_missing_or_unreadable_transcript_fails_generate_with_its_own_code(
    harness: PipelineHarness, damage: str
) -> None:
    harness.runner.stages = {
        **harness.stages,
        "transcribe": StoredTranscriptStage(),
        "generate": GenerateStage(),
    }
    for _ in range(2):  # ingest, transcribe
        ((stage_run_id, _),) = harness.dispatcher.take()
        harness.runner.run(stage_run_id)
    (transcript,) = [
        o.key for o in harness.store.list_prefix("courses/") if o.key.endswith(TRANSCRIPT_NAME)
    ]
    if damage == "missing":
        assert harness.store.delete(transcript)
    else:
        harness.store.put_bytes(transcript, b'{"segments": "cut off in the mid')

    harness.drain()

    assert harness.runs()[2:] == [("generate", 1, "failed", "storage.object_missing")]
    assert harness.lecture().status == "failed"


def test_a_scratch_disk_that_cannot_be_written_is_transient(
    harness: PipelineHarness, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "scratch-is-a-file"
    not_a_directory.write_bytes(b"")
    harness.runner.workdir_root = not_a_directory
    ((stage_run_id, _),) = harness.dispatcher.take()
    harness.runner.run(stage_run_id)
    assert harness.runs() == [
        ("ingest", 1, "failed", "storage.unavailable"),
        ("ingest", 2, "queued", None),
    ]
    harness.runner.workdir_root = tmp_path
    harness.drain()
    assert harness.lecture().status == "succeeded"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pegasus-work-")]
