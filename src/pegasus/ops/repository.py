"""Queries behind the ops view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from pegasus.db.models import Incident, Lecture, LectureStatus, StageRun, StageStatus


def finished_runs_since(session: Session, since: datetime) -> Sequence[StageRun]:
    return session.scalars(
        select(StageRun).where(
            StageRun.finished_at >= since,
            StageRun.status.in_([StageStatus.SUCCEEDED, StageStatus.FAILED]),
        )
    ).all()


def retried_run_ids(session: Session, runs: Sequence[StageRun]) -> set[str]:
    """Ids among ``runs`` that have a later attempt of the same stage."""
    failed = [r.id for r in runs if r.status == StageStatus.FAILED]
    if not failed:
        return set()
    later = aliased(StageRun)
    rows = session.execute(
        select(StageRun.id)
        .join(
            later,
            and_(
                later.lecture_id == StageRun.lecture_id,
                later.stage == StageRun.stage,
                later.attempt > StageRun.attempt,
            ),
        )
        .where(StageRun.id.in_(failed))
    ).scalars()
    return set(rows)


def incident_by_key(session: Session, fingerprint: str, starts_at: datetime) -> Incident | None:
    return session.scalar(
        select(Incident).where(Incident.fingerprint == fingerprint, Incident.starts_at == starts_at)
    )


def recent_incidents(session: Session, limit: int) -> Sequence[Incident]:
    return session.scalars(select(Incident).order_by(Incident.updated_at.desc()).limit(limit)).all()


def firing_incidents(session: Session) -> Sequence[Incident]:
    return session.scalars(select(Incident).where(Incident.status == "firing")).all()


def recent_failed_lectures(session: Session, limit: int) -> Sequence[Lecture]:
    return session.scalars(
        select(Lecture)
        .where(Lecture.status == LectureStatus.FAILED)
        .order_by(Lecture.finished_at.desc())
        .limit(limit)
    ).all()


def lectures_finished_since(session: Session, since: datetime) -> Sequence[Lecture]:
    return session.scalars(
        select(Lecture).where(
            Lecture.finished_at >= since,
            Lecture.status.in_([LectureStatus.SUCCEEDED, LectureStatus.FAILED]),
        )
    ).all()


def final_outcome_counts(session: Session, stage: str, since: datetime) -> tuple[int, int]:
    """(succeeded, failed for good) runs of ``stage`` finished since ``since``; a failed run
    with a later attempt was retried and is not an outcome."""
    later = aliased(StageRun)
    retried = (
        select(later.id)
        .where(
            later.lecture_id == StageRun.lecture_id,
            later.stage == StageRun.stage,
            later.attempt > StageRun.attempt,
        )
        .exists()
    )
    base = (
        select(func.count())
        .select_from(StageRun)
        .where(StageRun.stage == stage, StageRun.finished_at >= since)
    )
    succeeded = session.scalar(base.where(StageRun.status == StageStatus.SUCCEEDED)) or 0
    failed = session.scalar(base.where(StageRun.status == StageStatus.FAILED, ~retried)) or 0
    return succeeded, failed
