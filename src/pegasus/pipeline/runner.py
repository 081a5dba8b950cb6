"""Runs one stage run: claim it, keep its lease alive, run the stage, record the result."""

from __future__ import annotations

import os
import random
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import QueueSettings, TranscriptionMode
from pegasus.db.base import utcnow
from pegasus.db.models import Course, StageRun
from pegasus.db.session import unit_of_work
from pegasus.errors import (
    DatabaseUnavailableError,
    InternalStageError,
    LeaseLostError,
    LectureDeletedError,
    PegasusError,
    StorageUnavailableError,
    database_unavailable,
)
from pegasus.exports.bundle import safe_stem
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline import transitions
from pegasus.pipeline.base import ArtifactRef, Stage, StageContext, StageResult
from pegasus.pipeline.privacy import stored_policy
from pegasus.pipeline.workdirs import make_workdir
from pegasus.presets import Preset, chosen_transcription_mode
from pegasus.queue.dispatch import Dispatcher
from pegasus.queue.retry import backoff_seconds
from pegasus.storage.base import ObjectStore
from pegasus.transcription.pii import RedactionPolicy

log = structlog.get_logger(__name__)

PROGRESS_WRITE_INTERVAL_SECONDS = 1.0
#: Tries of the final write (the stage's result) while the database is unavailable, each
#: after the queue's backoff; then the run is left to the reconciler.
RECORD_ATTEMPTS = 4


class PresetResolver(Protocol):
    """The preset a lecture names: a built-in or its course's own (the courses slice decides;
    the composition root passes ``pegasus.courses.service.resolve_preset``)."""

    def __call__(self, session: Session, key: str, *, course_id: str | None = None) -> Preset: ...


class StageRunner:
    """Executes stage runs by id; safe to call from several threads and processes at once."""

    def __init__(
        self,
        *,
        queue: QueueSettings,
        session_factory: sessionmaker[Session],
        store: ObjectStore,
        dispatcher: Dispatcher,
        stages: Mapping[str, Stage],
        metrics: PipelineMetrics,
        resolve_preset: PresetResolver,
        on_transcript: transitions.TranscriptStored,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        workdir_root: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``workdir_root``: where runs' scratch directories go (the temp directory when
        None); ``sleep`` waits between tries of the final write."""
        self.queue = queue
        self.session_factory = session_factory
        self.store = store
        self.dispatcher = dispatcher
        self.stages = stages
        self.metrics = metrics
        self.resolve_preset = resolve_preset
        self.on_transcript = on_transcript
        self.clock = clock
        self.rng = rng or random.Random()  # nosec B311  # retry jitter, not a secret
        self.workdir_root = workdir_root
        self.sleep = sleep
        self.worker_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, stage_run_id: str) -> None:
        """Run the stage run ``stage_run_id`` if it is still queued; otherwise do nothing."""
        worker_id = f"{self.worker_prefix}:{uuid.uuid4().hex[:8]}"
        try:
            claimed = self._claim(stage_run_id, worker_id)
        except Exception as exc:
            fault = database_unavailable(exc)
            if fault is None:
                raise
            # Nothing was claimed: the run stays queued and the reconciler sends it again.
            log.warning(
                "pipeline.stage.claim_failed",
                stage_run_id=stage_run_id,
                error_code=fault.code,
                error=fault.context.get("error"),
            )
            return
        if claimed is None:
            log.info("pipeline.stage.skipped", stage_run_id=stage_run_id, reason="not queued")
            return
        self._execute(stage_run_id, worker_id, claimed)

    def _claim(self, stage_run_id: str, worker_id: str) -> _Claimed | None:
        with unit_of_work(self.session_factory) as session:
            run = transitions.claim(
                session,
                stage_run_id,
                worker_id=worker_id,
                now=self.clock(),
                lease_seconds=self.queue.lease_seconds,
            )
            if run is None:
                return None
            lecture = run.lecture
            course = session.get(Course, lecture.course_id)
            preset = self.resolve_preset(session, lecture.preset_key, course_id=lecture.course_id)
            return _Claimed(
                stage=run.stage,
                attempt=run.attempt,
                lecture_id=lecture.id,
                course_id=lecture.course_id,
                title=lecture.title,
                source_name=_disk_name(lecture.original_filename),
                course_name=course.name if course else "Pegasus",
                preset=preset,
                artifacts=MappingProxyType(
                    {a.kind: ArtifactRef(key=a.key, version=a.version) for a in lecture.artifacts}
                ),
                redaction=(
                    stored_policy(course.redaction_kinds, course.roster_names)
                    if course
                    else RedactionPolicy()
                ),
                transcription_mode=chosen_transcription_mode(
                    preset, course.transcription_mode if course else None
                ),
            )

    def _execute(self, stage_run_id: str, worker_id: str, claimed: _Claimed) -> None:
        stage_name, attempt = claimed.stage, claimed.attempt
        ids = {"lecture_id": claimed.lecture_id, "course_id": claimed.course_id}
        bound = log.bind(
            lecture_id=ids["lecture_id"],
            stage=stage_name,
            attempt=attempt,
            stage_run_id=stage_run_id,
            worker_id=worker_id,
        )
        bound.info("pipeline.stage.started")
        keeper = _LeaseKeeper(self, stage_run_id, worker_id)
        workdir: Path | None = None
        started = time.monotonic()
        try:
            workdir = _scratch(stage_name, self.workdir_root)
            ctx = StageContext(
                lecture_id=claimed.lecture_id,
                course_id=claimed.course_id,
                stage_run_id=stage_run_id,
                attempt=attempt,
                title=claimed.title,
                source_name=claimed.source_name,
                course_name=claimed.course_name,
                preset=claimed.preset,
                store=self.store,
                workdir=workdir,
                report_progress=keeper.report,
                artifacts=claimed.artifacts,
                redaction=claimed.redaction,
                transcription_mode=claimed.transcription_mode,
            )
            keeper.start()
            outcome: StageResult | PegasusError = self.stages[stage_name].run(ctx)
        except LeaseLostError:
            bound.warning("pipeline.stage.abandoned", reason="lease lost")
            return
        except LectureDeletedError:
            # Not a failure of the stage: no outcome is counted; the run is closed for the
            # deletion's purge, which waited for it.
            self._close_if_deleted(stage_run_id, worker_id, bound)
            return
        except PegasusError as exc:
            outcome = exc
        except Exception as exc:
            fault = database_unavailable(exc)
            if fault is None:
                bound.exception("pipeline.stage.crashed")
                outcome = InternalStageError()
            else:
                bound.warning("pipeline.stage.database_unavailable", error=fault.context)
                outcome = fault
        finally:
            keeper.stop()
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
        self._record(stage_run_id, worker_id, outcome, bound, time.monotonic() - started)

    def _record(
        self,
        stage_run_id: str,
        worker_id: str,
        outcome: StageResult | PegasusError,
        bound: structlog.stdlib.BoundLogger,
        seconds: float,
    ) -> None:
        """Record the stage's result or error (``_write``), then count and log it.

        While the database is unavailable the write is tried ``RECORD_ATTEMPTS`` times, each
        after the queue's backoff (``pegasus.queue.retry``); if it still fails, the run's
        lease is given up (when the database lets us) and the reconciler hands the run on at
        its next pass. What the stage stored stays where it is; a new attempt rewrites the
        same keys. A write that fails for another reason records the stage as failed with
        ``internal.error`` instead."""
        # Retries end well within the lease, which nobody else takes while it runs.
        deadline = time.monotonic() + self.queue.lease_seconds / 2
        tries = 0
        while True:
            tries += 1
            try:
                self._write(stage_run_id, worker_id, outcome, bound, seconds)
                return
            except Exception as exc:
                fault = database_unavailable(exc)
                if fault is None:
                    if isinstance(outcome, InternalStageError):
                        raise  # recording the failure itself fails: a bug, loudly
                    bound.exception("pipeline.stage.record_crashed")
                    outcome = InternalStageError()
                    continue
                delay = backoff_seconds(tries, self.queue, self.rng)
                if tries >= RECORD_ATTEMPTS or time.monotonic() + delay > deadline:
                    self._hand_back(stage_run_id, worker_id, bound, fault, tries)
                    return
                bound.warning(
                    "pipeline.stage.record_retrying",
                    try_number=tries,
                    retry_in_seconds=round(delay, 3),
                    error_code=fault.code,
                    error=fault.context.get("error"),
                )
                self.sleep(delay)

    def _hand_back(
        self,
        stage_run_id: str,
        worker_id: str,
        bound: structlog.stdlib.BoundLogger,
        fault: DatabaseUnavailableError,
        tries: int,
    ) -> None:
        """The result could not be recorded: end our lease now if the database answers, so
        the reconciler re-queues the run at its next pass, else when the lease expires."""
        released = False
        try:
            with unit_of_work(self.session_factory) as session:
                released = transitions.release(
                    session, stage_run_id, worker_id=worker_id, now=self.clock()
                )
        except Exception:
            released = False
        bound.error(
            "pipeline.stage.record_failed",
            tries=tries,
            error_code=fault.code,
            error=fault.context.get("error"),
            lease_released=released,
            handed_to="reconciler",
        )

    def _write(
        self,
        stage_run_id: str,
        worker_id: str,
        outcome: StageResult | PegasusError,
        bound: structlog.stdlib.BoundLogger,
        seconds: float,
    ) -> None:
        """Record the stage's result or error in one transaction, then count and log it."""
        with unit_of_work(self.session_factory) as session:
            run = session.get(StageRun, stage_run_id)
            assert run is not None
            stage, now = run.stage, self.clock()
            recorded: transitions.SuccessOutcome | transitions.FailureOutcome | None
            if isinstance(outcome, PegasusError):
                recorded = transitions.record_failure(
                    session,
                    self.dispatcher,
                    run,
                    outcome,
                    worker_id=worker_id,
                    now=now,
                    settings=self.queue,
                    rng=self.rng,
                )
            else:
                recorded = transitions.record_success(
                    session,
                    self.dispatcher,
                    run,
                    worker_id=worker_id,
                    now=now,
                    artifacts=outcome.artifacts,
                    duration_seconds=outcome.duration_seconds,
                    message="Done",
                    on_transcript=self.on_transcript,
                    transcript=outcome.transcript,
                    store=self.store,
                )
        if recorded is None:
            bound.warning("pipeline.stage.abandoned", reason="lease lost before commit")
            self._close_if_deleted(stage_run_id, worker_id, bound)
            return
        fields: dict[str, Any] = {}
        label = "succeeded"
        if isinstance(outcome, PegasusError):
            assert isinstance(recorded, transitions.FailureOutcome)
            retry = recorded.retry
            label = "retried" if retry else "failed"
            fields["error_code"] = outcome.code
            fields["retry_in_seconds"] = (
                round((retry.available_at - now).total_seconds(), 1) if retry else None
            )
        self.metrics.observe_stage(stage, label, seconds, error_code=fields.get("error_code"))
        bound.info("pipeline.stage.finished", outcome=label, seconds=round(seconds, 3), **fields)
        self._lecture_finished(recorded.finished, bound)

    def _close_if_deleted(
        self, stage_run_id: str, worker_id: str, bound: structlog.stdlib.BoundLogger
    ) -> None:
        """The stage has returned: if its lecture is being deleted, close the run now, so the
        deletion's purge (which waits for running runs) may go ahead."""
        try:
            with unit_of_work(self.session_factory) as session:
                closed = transitions.close_if_deleted(
                    session, stage_run_id, worker_id=worker_id, now=self.clock()
                )
        except Exception as exc:
            if database_unavailable(exc) is None:
                raise
            return  # the lease expires and the reconciler closes it
        if closed:
            bound.info("pipeline.stage.stopped", reason="lecture deleted")

    def _lecture_finished(self, finished: transitions.LectureFinished | None, bound: Any) -> None:
        if finished is None:
            return
        self.metrics.observe_lecture(
            finished.outcome,
            processing_seconds=finished.processing_seconds,
            audio_seconds=finished.audio_seconds,
        )
        bound.info(
            "lecture.finished",
            outcome=finished.outcome,
            processing_seconds=round(finished.processing_seconds, 3),
        )


@dataclass(frozen=True)
class _Claimed:
    """What the claiming transaction read for a run's context."""

    stage: str
    attempt: int
    lecture_id: str
    course_id: str
    title: str
    source_name: str
    course_name: str
    preset: Preset
    artifacts: Mapping[str, ArtifactRef]
    redaction: RedactionPolicy
    transcription_mode: TranscriptionMode | None


def _scratch(stage: str, root: Path | None) -> Path:
    """A run's scratch directory; a full or unwritable temp disk is transient, not a crash."""
    try:
        return make_workdir(stage, root=root)
    except OSError as exc:
        raise StorageUnavailableError(
            "This worker cannot write its scratch files (is its disk full?); Pegasus will "
            "try again.",
            error=repr(exc),
        ) from exc


def _disk_name(filename: str) -> str:
    """A short, safe local file name for an upload, close to the learner's own so media
    errors quote something they recognise: ``Week 3: Cells.m4a`` -> ``Week_3_Cells.m4a``."""
    name = Path(filename).name
    suffix = Path(name).suffix.lower()
    if not (1 < len(suffix) <= 6 and suffix[1:].isalnum() and suffix.isascii()):
        suffix = ""
    stem = safe_stem(Path(name).stem) if name not in ("", ".", "..") else "recording"
    return f"{stem[:60]}{suffix}"


class _LeaseKeeper:
    """Renews a running stage's lease from a thread and records progress (throttled)."""

    def __init__(self, runner: StageRunner, stage_run_id: str, worker_id: str) -> None:
        self._runner = runner
        self._stage_run_id = stage_run_id
        self._worker_id = worker_id
        self._stop = threading.Event()
        self._lost = threading.Event()
        #: Set once the lecture's deletion was requested: the stage stops at its next report,
        #: and the lease is renewed until it has returned (see ``transitions.lecture_deleted``).
        self._deleted = threading.Event()
        #: Set while the database does not answer: the stage's progress reports skip their
        #: write (each would block the stage for a connect timeout) and the keeper thread
        #: alone keeps trying; its first success clears it.
        self._unreachable = threading.Event()
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    def report(self, progress: float, message: str) -> None:
        """The stage's progress callback; raises ``LeaseLostError`` once the lease is gone,
        ``LectureDeletedError`` once the lecture's deletion was requested."""
        self._raise_if_stopping()
        now = time.monotonic()
        if progress < 1.0 and now - self._last_write < PROGRESS_WRITE_INTERVAL_SECONDS:
            return
        if self._unreachable.is_set():
            return
        self._last_write = now
        self._renew(progress, message)
        self._raise_if_stopping()

    def _raise_if_stopping(self) -> None:
        if self._lost.is_set():
            raise LeaseLostError()
        if self._deleted.is_set():
            raise LectureDeletedError()

    def _renew(self, progress: float | None = None, message: str | None = None) -> None:
        runner = self._runner
        with self._lock:
            try:
                with unit_of_work(runner.session_factory) as session:
                    ours = transitions.renew(
                        session,
                        self._stage_run_id,
                        worker_id=self._worker_id,
                        now=runner.clock(),
                        lease_seconds=runner.queue.lease_seconds,
                        progress=progress,
                        message=message,
                    )
                    if ours and transitions.lecture_deleted(session, self._stage_run_id):
                        self._deleted.set()
            except Exception:
                # A database blip must not kill the stage; the next renewal tries again.
                log.warning("pipeline.lease.renew_failed", stage_run_id=self._stage_run_id)
                self._unreachable.set()
                return
        self._unreachable.clear()
        if not ours:
            self._lost.set()

    def _loop(self) -> None:
        interval = self._runner.queue.lease_seconds / 3
        while not self._stop.wait(interval):
            self._renew()
            if self._lost.is_set():
                return
