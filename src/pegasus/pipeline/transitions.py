"""State transitions of stage runs and lectures, shared by runner, reconciler and retry.

Every function here works inside the caller's transaction and never commits. Messages to
workers are buffered with ``after_commit`` so they leave only once the rows exist.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from pegasus.config import QueueSettings
from pegasus.db.models import Artifact, Lecture, LectureStatus, StageName, StageRun, StageStatus
from pegasus.db.session import after_commit, rows_changed
from pegasus.errors import LectureDeletedError, PegasusError
from pegasus.pipeline.base import ArtifactOut
from pegasus.pipeline.objects import discard_replaced
from pegasus.queue.dispatch import Dispatcher
from pegasus.queue.retry import backoff_seconds, may_retry
from pegasus.storage.base import ObjectStore
from pegasus.transcription.schemas import Transcript

log = structlog.get_logger(__name__)


class TranscriptStored(Protocol):
    """Called in the transaction that records a new transcript (the search slice indexes it;
    the composition root passes ``pegasus.search.repository.index_transcript``)."""

    def __call__(
        self, session: Session, *, lecture_id: str, owner_id: str, transcript: Transcript
    ) -> None: ...


@dataclass(frozen=True)
class LectureFinished:
    """A lecture reached its final state in this transaction."""

    outcome: str  # succeeded | failed
    processing_seconds: float
    audio_seconds: float | None


@dataclass(frozen=True)
class SuccessOutcome:
    """What recording a success did: the lecture finished, or the next stage was queued."""

    finished: LectureFinished | None


@dataclass(frozen=True)
class FailureOutcome:
    """What recording a failure did: the retry it queued, or the lecture failing."""

    retry: StageRun | None
    finished: LectureFinished | None

    @property
    def lecture_failed(self) -> bool:
        return self.finished is not None


def _finish_lecture(lecture: Lecture, outcome: LectureStatus, now: datetime) -> LectureFinished:
    lecture.status = outcome
    lecture.finished_at = now
    return LectureFinished(
        outcome=outcome.value,
        processing_seconds=max(0.0, (now - lecture.created_at).total_seconds()),
        audio_seconds=lecture.duration_seconds,
    )


def queue_stage(
    session: Session,
    dispatcher: Dispatcher,
    lecture: Lecture,
    stage: StageName,
    *,
    now: datetime,
    delay_seconds: float = 0.0,
) -> StageRun:
    """Add the next attempt of ``stage`` for ``lecture`` and send it after commit."""
    last_attempt = session.scalar(
        select(func.max(StageRun.attempt)).where(
            StageRun.lecture_id == lecture.id, StageRun.stage == stage
        )
    )
    available = now + timedelta(seconds=delay_seconds)
    run = StageRun(
        lecture_id=lecture.id,
        stage=stage,
        attempt=(last_attempt or 0) + 1,
        status=StageStatus.QUEUED,
        queued_at=now,
        available_at=available,
        enqueued_at=available,
    )
    session.add(run)
    session.flush()
    run_id = run.id
    after_commit(session, lambda: dispatcher.send(run_id, delay_seconds))
    log.info(
        "pipeline.stage.queued",
        lecture_id=lecture.id,
        stage=stage.value,
        attempt=run.attempt,
        stage_run_id=run_id,
        delay_seconds=round(delay_seconds, 3),
    )
    return run


def requeue_lecture(session: Session, lecture: Lecture, *, from_statuses: Collection[str]) -> bool:
    """Atomically move ``lecture`` back to queued if its status is one of ``from_statuses``;
    False when another request moved it first (a double click on retry or regenerate)."""
    result = session.execute(
        update(Lecture)
        .where(Lecture.id == lecture.id, Lecture.status.in_(from_statuses))
        .values(status=LectureStatus.QUEUED, finished_at=None)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        return False
    session.refresh(lecture)
    return True


def _lecture_kept() -> ColumnElement[bool]:
    """The run's lecture exists and its deletion was not requested."""
    return StageRun.lecture_id.in_(select(Lecture.id).where(Lecture.deleted_at.is_(None)))


def claim(
    session: Session, stage_run_id: str, *, worker_id: str, now: datetime, lease_seconds: float
) -> StageRun | None:
    """Atomically move a queued run to running for ``worker_id``; None if someone else has it
    or its lecture's deletion was requested."""
    result = session.execute(
        update(StageRun)
        .where(StageRun.id == stage_run_id, StageRun.status == StageStatus.QUEUED, _lecture_kept())
        .values(
            status=StageStatus.RUNNING,
            worker_id=worker_id,
            started_at=now,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            progress=0.0,
            message="Started",
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        return None
    run = session.get(StageRun, stage_run_id, populate_existing=True)
    assert run is not None
    lecture = run.lecture
    if lecture.status != LectureStatus.PROCESSING:
        lecture.status = LectureStatus.PROCESSING
    return run


def renew(
    session: Session,
    stage_run_id: str,
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    progress: float | None = None,
    message: str | None = None,
) -> bool:
    """Extend the lease (and record progress); False if the run is no longer ours. See
    ``lecture_deleted`` for a run that is ours but should stop."""
    values: dict[str, object] = {"lease_expires_at": now + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    if message is not None:
        values["message"] = message[:500]
    result = session.execute(
        update(StageRun)
        .where(
            StageRun.id == stage_run_id,
            StageRun.worker_id == worker_id,
            StageRun.status == StageStatus.RUNNING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def lecture_deleted(session: Session, stage_run_id: str) -> bool:
    """Whether the run's lecture is gone or its deletion was requested: the stage must stop.
    Its worker keeps renewing the lease until the stage has returned, so the deletion's purge
    (which waits for running runs with a live lease) never races the stage's writes."""
    kept = session.scalar(
        select(func.count())
        .select_from(StageRun)
        .where(StageRun.id == stage_run_id, _lecture_kept())
    )
    return not kept


def release(session: Session, stage_run_id: str, *, worker_id: str, now: datetime) -> bool:
    """End ``worker_id``'s lease on a running run now, so the reconciler's next pass hands
    it on (a worker that could not record its result); False if it was no longer ours."""
    result = session.execute(
        update(StageRun)
        .where(
            StageRun.id == stage_run_id,
            StageRun.worker_id == worker_id,
            StageRun.status == StageStatus.RUNNING,
        )
        .values(lease_expires_at=now - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def _finish_owned(
    session: Session, run: StageRun, worker_id: str | None, now: datetime, **values: object
) -> bool:
    """Close ``run`` if it is still running and still ours (``worker_id``), or, for the
    reconciler (no ``worker_id``), if its lease is still expired: a worker that renewed
    it in the meantime keeps it (SQLite has no SELECT ... FOR UPDATE to prevent the race)."""
    conditions = [StageRun.id == run.id, StageRun.status == StageStatus.RUNNING]
    if worker_id is not None:
        conditions.append(StageRun.worker_id == worker_id)
    else:
        conditions.append(StageRun.lease_expires_at < now)
    result = session.execute(
        update(StageRun)
        .where(*conditions)
        .values(finished_at=now, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(run)
    return rows_changed(result) == 1


def record_success(
    session: Session,
    dispatcher: Dispatcher,
    run: StageRun,
    *,
    worker_id: str,
    now: datetime,
    artifacts: list[ArtifactOut],
    duration_seconds: float | None,
    message: str,
    on_transcript: TranscriptStored,
    transcript: Transcript | None = None,
    store: ObjectStore | None = None,
) -> SuccessOutcome | None:
    """Mark ``run`` succeeded with its artifacts and queue the next stage, all in one
    transaction; a new ``transcript`` goes to ``on_transcript`` in that transaction too.
    An artifact row moved to a new key leaves its old object to be deleted from ``store``
    after the commit. None (and nothing recorded) if the run's lease was lost meanwhile, or
    if the lecture's deletion was requested (the run is closed as ``lecture.deleted``)."""
    if run.lecture.deleted_at is not None:
        _close_deleted(session, run, worker_id, now)
        return None
    if not _finish_owned(
        session, run, worker_id, now, status=StageStatus.SUCCEEDED, progress=1.0, message=message
    ):
        return None
    lecture = run.lecture
    replaced: list[str] = []
    for out in artifacts:
        row = session.scalar(
            select(Artifact).where(Artifact.lecture_id == lecture.id, Artifact.kind == out.kind)
        ) or Artifact(lecture_id=lecture.id, kind=out.kind)
        if row.key and row.key != out.stored.key:
            replaced.append(row.key)
        row.key = out.stored.key
        row.content_type = out.content_type
        row.size_bytes = out.stored.size_bytes
        row.sha256 = out.stored.sha256 or ""
        # Each write of the object is a new version: the ETag of the transcript and kit.
        row.version = (row.version or 0) + 1
        session.add(row)
    if duration_seconds is not None:
        lecture.duration_seconds = duration_seconds
    if transcript is not None:
        on_transcript(
            session, lecture_id=lecture.id, owner_id=lecture.owner_id, transcript=transcript
        )
    if store is not None:
        discard_replaced(session, store, replaced)
    following = StageName(run.stage).next()
    finished = None
    if following is None:
        finished = _finish_lecture(lecture, LectureStatus.SUCCEEDED, now)
    else:
        queue_stage(session, dispatcher, lecture, following, now=now)
    session.flush()
    return SuccessOutcome(finished=finished)


def record_failure(
    session: Session,
    dispatcher: Dispatcher,
    run: StageRun,
    error: PegasusError,
    *,
    worker_id: str | None,
    now: datetime,
    settings: QueueSettings,
    rng: random.Random,
) -> FailureOutcome | None:
    """Mark ``run`` failed with ``error``; queue a delayed retry for transient errors while
    attempts remain, otherwise fail the lecture. None if the run was no longer ours."""
    if not _finish_owned(
        session,
        run,
        worker_id,
        now,
        status=StageStatus.FAILED,
        error_code=error.code,
        error_message=error.message[:2000],
    ):
        return None
    lecture = run.lecture
    if lecture.deleted_at is not None:
        return FailureOutcome(retry=None, finished=None)  # nothing more runs for it
    if error.transient and may_retry(run.attempt, settings):
        hint = error.context.get("retry_after_seconds")  # e.g. an LLM's Retry-After
        delay = backoff_seconds(run.attempt, settings, rng, hint_seconds=hint)
        retry = queue_stage(
            session, dispatcher, lecture, StageName(run.stage), now=now, delay_seconds=delay
        )
        return FailureOutcome(retry=retry, finished=None)
    finished = _finish_lecture(lecture, LectureStatus.FAILED, now)
    session.flush()
    return FailureOutcome(retry=None, finished=finished)


def _close_deleted(session: Session, run: StageRun, worker_id: str | None, now: datetime) -> bool:
    error = LectureDeletedError()
    return _finish_owned(
        session,
        run,
        worker_id,
        now,
        status=StageStatus.FAILED,
        error_code=error.code,
        error_message=error.message,
    )


def close_if_deleted(session: Session, stage_run_id: str, *, worker_id: str, now: datetime) -> bool:
    """Close ``worker_id``'s running run as ``lecture.deleted`` if its lecture's deletion was
    requested (a runner whose stage stopped for that calls it once the stage has returned,
    so the purge, which waits for running runs, never races the stage's writes)."""
    run = session.get(StageRun, stage_run_id)
    if run is None or run.lecture.deleted_at is None:
        return False
    return _close_deleted(session, run, worker_id, now)


def stop_queued_runs(session: Session, lecture_ids: Collection[str], *, now: datetime) -> int:
    """Fail the queued runs of lectures whose deletion was just requested, as
    ``lecture.deleted``; running ones stop at their next progress report. How many."""
    if not lecture_ids:
        return 0
    error = LectureDeletedError()
    result = session.execute(
        update(StageRun)
        .where(StageRun.lecture_id.in_(lecture_ids), StageRun.status == StageStatus.QUEUED)
        .values(
            status=StageStatus.FAILED,
            finished_at=now,
            error_code=error.code,
            error_message=error.message,
        )
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result)
