"""Queries of the deletion slice: what a deletion covers, what is still there, removing it.

Finding a subject here ignores ownership (the service decides who may delete what) but never
returns one whose deletion was already requested, except ``pending_deletion_of``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from pegasus.db.models import (
    ApiToken,
    Artifact,
    Course,
    Deletion,
    DeletionStatus,
    Lecture,
    Preset,
    StageRun,
    StageStatus,
    TranscriptSegment,
    Upload,
    User,
    WebSession,
)
from pegasus.db.session import rows_changed


@dataclass(frozen=True)
class Covered:
    """Every id a deletion removes (read before its rows go)."""

    lecture_ids: frozenset[str]
    course_ids: frozenset[str]
    user_id: str | None = None


def live_lecture(session: Session, lecture_id: str) -> Lecture | None:
    return session.scalar(
        select(Lecture).where(Lecture.id == lecture_id, Lecture.deleted_at.is_(None))
    )


def live_course(session: Session, course_id: str) -> Course | None:
    return session.scalar(select(Course).where(Course.id == course_id, Course.deleted_at.is_(None)))


def existing_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def pending_deletion_of(session: Session, subject_type: str, subject_id: str) -> Deletion | None:
    """The newest deletion of the subject, whatever its status."""
    return session.scalar(
        select(Deletion)
        .where(Deletion.subject_type == subject_type, Deletion.subject_id == subject_id)
        .order_by(Deletion.requested_at.desc())
        .limit(1)
    )


def tombstone_lecture(session: Session, lecture_id: str, now: datetime) -> bool:
    """Set the lecture's ``deleted_at``; False when another request did it first."""
    result = session.execute(
        update(Lecture)
        .where(Lecture.id == lecture_id, Lecture.deleted_at.is_(None))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def tombstone_course(session: Session, course_id: str, now: datetime) -> bool:
    """Set the course's and its lectures' ``deleted_at``; False when another request did it
    first."""
    result = session.execute(
        update(Course)
        .where(Course.id == course_id, Course.deleted_at.is_(None))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        return False
    session.execute(
        update(Lecture)
        .where(Lecture.course_id == course_id, Lecture.deleted_at.is_(None))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    return True


def tombstone_user(session: Session, user_id: str, now: datetime) -> bool:
    """Mark the user deleted (and disabled), end their sessions, revoke their tokens and
    tombstone everything they own; False when another request did it first."""
    result = session.execute(
        update(User)
        .where(User.id == user_id, User.deleted_at.is_(None))
        .values(deleted_at=now, disabled_at=func.coalesce(User.disabled_at, now))
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        return False
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    for table in (Course, Lecture):
        session.execute(
            update(table)
            .where(table.owner_id == user_id, table.deleted_at.is_(None))
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )
    return True


def covered_course(session: Session, course_id: str) -> frozenset[str]:
    """Ids of the course's lectures."""
    return frozenset(session.scalars(select(Lecture.id).where(Lecture.course_id == course_id)))


def courses_of_user(session: Session, user_id: str) -> frozenset[str]:
    return frozenset(session.scalars(select(Course.id).where(Course.owner_id == user_id)))


def lectures_of_user(session: Session, user_id: str) -> frozenset[str]:
    return frozenset(session.scalars(select(Lecture.id).where(Lecture.owner_id == user_id)))


def covered(session: Session, deletion: Deletion) -> Covered:
    """The ids ``deletion`` removes, as the database holds them now."""
    if deletion.subject_type == "lecture":
        return Covered(lecture_ids=frozenset({deletion.subject_id}), course_ids=frozenset())
    if deletion.subject_type == "course":
        courses = frozenset({deletion.subject_id})
        user_id = None
    else:
        user_id = deletion.subject_id
        courses = courses_of_user(session, user_id)
    lectures_of = select(Lecture.id).where(Lecture.course_id.in_(courses))
    if user_id is not None:
        lectures_of = select(Lecture.id).where(
            or_(Lecture.course_id.in_(courses), Lecture.owner_id == user_id)
        )
    return Covered(
        lecture_ids=frozenset(session.scalars(lectures_of)), course_ids=courses, user_id=user_id
    )


def running_runs(session: Session, lecture_ids: Collection[str], now: datetime) -> int:
    """Runs of these lectures a live worker still holds (an expired lease's worker is gone;
    the reconciler closes its run)."""
    if not lecture_ids:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(StageRun)
            .where(
                StageRun.lecture_id.in_(lecture_ids),
                StageRun.status == StageStatus.RUNNING,
                StageRun.lease_expires_at >= now,
            )
        )
        or 0
    )


def uploads_of(session: Session, scope: Covered) -> Sequence[Upload]:
    return session.scalars(select(Upload).where(_upload_filter(scope))).all()


def _upload_filter(scope: Covered) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [
        Upload.course_id.in_(scope.course_ids),
        Upload.lecture_id.in_(scope.lecture_ids),
    ]
    if scope.user_id is not None:
        conditions.append(Upload.owner_id == scope.user_id)
    return or_(*conditions)


def _row_queries(scope: Covered) -> list[tuple[str, type[object], ColumnElement[bool]]]:
    """(table, model, condition) for every row ``scope`` covers, children first."""
    lectures = scope.lecture_ids
    rows: list[tuple[str, type[object], ColumnElement[bool]]] = [
        ("transcript_segments", TranscriptSegment, TranscriptSegment.lecture_id.in_(lectures)),
        ("artifacts", Artifact, Artifact.lecture_id.in_(lectures)),
        ("stage_runs", StageRun, StageRun.lecture_id.in_(lectures)),
        ("uploads", Upload, _upload_filter(scope)),
        ("lectures", Lecture, Lecture.id.in_(lectures)),
        ("presets", Preset, Preset.course_id.in_(scope.course_ids)),
        ("courses", Course, Course.id.in_(scope.course_ids)),
    ]
    if scope.user_id is not None:
        rows += [
            ("api_tokens", ApiToken, ApiToken.user_id == scope.user_id),
            ("web_sessions", WebSession, WebSession.user_id == scope.user_id),
            ("users", User, User.id == scope.user_id),
        ]
    return rows


def delete_rows(session: Session, scope: Covered) -> dict[str, int]:
    """Delete every row ``scope`` covers, children first; rows removed by table."""
    removed: dict[str, int] = {}
    for table, model, condition in _row_queries(scope):
        result = session.execute(
            delete(model).where(condition).execution_options(synchronize_session=False)
        )
        removed[table] = rows_changed(result)
    return removed


def rows_left(session: Session, scope: Covered) -> dict[str, int]:
    """Rows ``scope`` covers that are still there, by table (only tables with some)."""
    left: dict[str, int] = {}
    for table, model, condition in _row_queries(scope):
        count = int(session.scalar(select(func.count()).select_from(model).where(condition)) or 0)
        if count:
            left[table] = count
    return left


def due_deletions(session: Session, now: datetime, limit: int) -> Sequence[str]:
    """Ids of pending deletions whose next attempt is due, oldest first."""
    return session.scalars(
        select(Deletion.id)
        .where(Deletion.status == DeletionStatus.PENDING, Deletion.next_attempt_at <= now)
        .order_by(Deletion.next_attempt_at)
        .limit(limit)
    ).all()


def take_attempt(session: Session, deletion_id: str, now: datetime, until: datetime) -> bool:
    """Claim a due deletion for one attempt (its next attempt moves to ``until``, so another
    replica's purge skips it meanwhile); False when another replica took it."""
    result = session.execute(
        update(Deletion)
        .where(
            Deletion.id == deletion_id,
            Deletion.status == DeletionStatus.PENDING,
            Deletion.next_attempt_at <= now,
        )
        .values(next_attempt_at=until, attempts=Deletion.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def deletions_visible_to(
    session: Session, user_id: str, *, everyone: bool, limit: int
) -> Sequence[Deletion]:
    """Deletions whose receipt ``user_id`` may read (all of them for an admin), newest first."""
    query = select(Deletion).order_by(Deletion.requested_at.desc()).limit(limit)
    if not everyone:
        query = query.where(Deletion.owner_id == user_id)
    return session.scalars(query).all()
