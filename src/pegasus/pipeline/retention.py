"""Raw audio retention: a lecture's recording is deleted once its course's retention period
has passed since the upload.

A lecture's recording is two objects: the uploaded file (artifact ``source``) and the 16 kHz
copy made for speech recognition (artifact ``audio``). Once ``lecture.created_at + days <=
now``, where ``days`` is the course's ``audio_retention_days`` or, when the course sets
none, ``PEGASUS_PRIVACY_AUDIO_RETENTION_DAYS``, this job deletes both objects and their
artifact rows and sets ``lectures.audio_deleted_at``. Nothing else is touched: the
transcript, the study kit, the exports and every other lecture stay as they are.

A lecture is left alone while it is in flight (only ``succeeded`` and ``failed`` lectures
qualify) and once its deletion, or its course's, was requested (``deleted_at`` set: the
deletion workflow removes everything). The lecture is claimed with one conditional UPDATE
that re-checks all of this, so a retry that starts at the same moment either wins (the
lecture is skipped this time) or finds the recording gone.

The rows go first, in one transaction; the objects are deleted after its commit. An object
whose delete fails (storage down) is referenced by no row any more, so the sweeper
(``pegasus.pipeline.sweeper``) removes it after its grace period. It runs as one of the
reconciler's housekeeping jobs, at most once per ``interval``; passes on several machines at
once are harmless (only one claims each lecture).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from pegasus.db.models import Artifact, Course, Lecture, LectureStatus
from pegasus.db.session import unit_of_work
from pegasus.errors import PegasusError
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline.ingest import AUDIO, AUDIO_NAME, SOURCE
from pegasus.storage.base import ObjectStore
from pegasus.storage.keys import lecture_key

log = structlog.get_logger(__name__)

#: The artifact kinds that hold a lecture's recording, and the names they are stored under.
RECORDING_KINDS = {SOURCE: SOURCE, AUDIO: AUDIO_NAME}
#: Lectures in these states are not in flight.
SETTLED = (LectureStatus.SUCCEEDED.value, LectureStatus.FAILED.value)
#: How often a process runs the job, at most (the reconciler calls more often).
DEFAULT_INTERVAL = timedelta(hours=1)
#: Lectures handled per pass at most; the next pass goes on with the rest.
MAX_LECTURES_PER_PASS = 1000


@dataclass(frozen=True)
class RetentionReport:
    """What one pass deleted."""

    lectures: int
    objects_deleted: int
    #: Objects whose delete failed; no row references them, so the sweeper removes them.
    objects_left: int
    seconds: float


def _eligible() -> Select[str]:
    """Lectures that may lose their recording: settled, not being deleted, not yet done."""
    return (
        select(Lecture.id)
        .join(Course, Course.id == Lecture.course_id)
        .where(
            Lecture.status.in_(SETTLED),
            Lecture.deleted_at.is_(None),
            Lecture.audio_deleted_at.is_(None),
            Course.deleted_at.is_(None),
        )
    )


def expired_lectures(
    session: Session, *, now: datetime, default_days: int, limit: int = MAX_LECTURES_PER_PASS
) -> list[str]:
    """Ids of the lectures whose recording is past its course's retention period, oldest
    upload first within each period (one query per distinct period, portable SQL)."""
    found: list[str] = list(
        session.scalars(
            _eligible()
            .where(
                Course.audio_retention_days.is_(None),
                Lecture.created_at <= now - timedelta(days=default_days),
            )
            .order_by(Lecture.created_at)
            .limit(limit)
        )
    )
    periods: Sequence[int | None] = session.scalars(
        select(Course.audio_retention_days)
        .where(Course.audio_retention_days.is_not(None), Course.deleted_at.is_(None))
        .distinct()
    ).all()
    for days in sorted(p for p in periods if p is not None):
        if len(found) >= limit:
            break
        found.extend(
            session.scalars(
                _eligible()
                .where(
                    Course.audio_retention_days == days,
                    Lecture.created_at <= now - timedelta(days=days),
                )
                .order_by(Lecture.created_at)
                .limit(limit - len(found))
            )
        )
    return found[:limit]


def release_recording(session: Session, lecture_id: str, *, now: datetime) -> dict[str, str] | None:
    """In the caller's transaction: mark the lecture's recording deleted and remove its
    artifact rows; return the object keys to delete after the commit, by kind (the rows'
    keys and the kinds' usual keys), or None when the lecture no longer qualifies (it was
    retried, deleted, or another process got there first)."""
    claimed = session.execute(
        update(Lecture)
        .where(
            Lecture.id == lecture_id,
            Lecture.status.in_(SETTLED),
            Lecture.deleted_at.is_(None),
            Lecture.audio_deleted_at.is_(None),
            Lecture.course_id.in_(select(Course.id).where(Course.deleted_at.is_(None))),
        )
        .values(audio_deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    course_id = session.scalar(select(Lecture.course_id).where(Lecture.id == lecture_id))
    assert course_id is not None
    keys: dict[str, str] = {}
    for kind, name in RECORDING_KINDS.items():
        keys[lecture_key(course_id, lecture_id, name)] = kind
    rows = session.execute(
        select(Artifact.kind, Artifact.key).where(
            Artifact.lecture_id == lecture_id, Artifact.kind.in_(tuple(RECORDING_KINDS))
        )
    ).all()
    for kind, key in rows:
        keys[key] = kind
    session.execute(
        delete(Artifact)
        .where(Artifact.lecture_id == lecture_id, Artifact.kind.in_(tuple(RECORDING_KINDS)))
        .execution_options(synchronize_session=False)
    )
    return keys


class AudioRetention:
    """Deletes recordings past their course's retention period; call it with the time (a
    reconciler housekeeping job). It runs at most once per ``interval``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        store: ObjectStore,
        metrics: PipelineMetrics | None = None,
        *,
        default_days: int,
        interval: timedelta = DEFAULT_INTERVAL,
        max_lectures: int = MAX_LECTURES_PER_PASS,
    ) -> None:
        self._session_factory = session_factory
        self._store = store
        self._metrics = metrics
        self.default_days = default_days
        self.interval = interval
        self.max_lectures = max_lectures
        self._last: datetime | None = None

    def __call__(self, now: datetime) -> RetentionReport | None:
        """Run if the last pass is ``interval`` ago (or there was none); else None."""
        if self._last is not None and now - self._last < self.interval:
            return None
        self._last = now
        return self.run(now)

    def run(self, now: datetime) -> RetentionReport:
        """One pass now."""
        started = time.monotonic()
        with unit_of_work(self._session_factory) as session:
            due = expired_lectures(
                session, now=now, default_days=self.default_days, limit=self.max_lectures
            )
        lectures = deleted = left = 0
        for lecture_id in due:
            with unit_of_work(self._session_factory) as session:
                keys = release_recording(session, lecture_id, now=now)
            if keys is None:
                continue
            lectures += 1
            removed, failed = self._delete_objects(keys)
            deleted += removed
            left += failed
            log.info(
                "retention.audio.deleted",
                lecture_id=lecture_id,
                objects_deleted=removed,
                objects_left=failed,
            )
        report = RetentionReport(
            lectures=lectures,
            objects_deleted=deleted,
            objects_left=left,
            seconds=round(time.monotonic() - started, 3),
        )
        log.info(
            "retention.finished",
            lectures=lectures,
            objects_deleted=deleted,
            objects_left=left,
            default_days=self.default_days,
            seconds=report.seconds,
        )
        return report

    def _delete_objects(self, keys: dict[str, str]) -> tuple[int, int]:
        removed = failed = 0
        for key, kind in keys.items():
            try:
                gone = self._store.delete(key)
            except PegasusError as exc:
                failed += 1
                log.warning("retention.object.delete_failed", key=key, error_code=exc.code)
                continue
            if gone:
                removed += 1
                if self._metrics is not None:
                    self._metrics.retention_audio_deleted.labels(kind=kind).inc()
        return removed, failed
