"""Deletion rules: who may delete what, the tombstone, and reading deletions and receipts.

A request tombstones its subject in the caller's transaction (gone at once from every
listing, search and export, its queued stages stopped), records a ``Deletion`` and an audit
entry; ``pegasus.deletion.purge`` removes the rows and objects in the background. Asking
again for a subject already being deleted returns the same deletion (a double click is
harmless). Someone else's lecture or course is "not found", as everywhere else, unless the
caller is an admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from pegasus import audit
from pegasus.audit import actions
from pegasus.db.models import Deletion, DeletionStatus, User
from pegasus.deletion import repository
from pegasus.errors import CannotDeleteSelfError, DeletionPendingError, NotFoundError
from pegasus.pipeline import transitions
from pegasus.storage.keys import course_prefix, lecture_prefix

log = structlog.get_logger(__name__)

_REQUESTED = {
    "lecture": actions.LECTURE_DELETION_REQUESTED,
    "course": actions.COURSE_DELETION_REQUESTED,
    "user": actions.USER_DELETION_REQUESTED,
}


def request_lecture_deletion(
    session: Session, actor: User, lecture_id: str, now: datetime
) -> Deletion:
    """Delete a lecture the actor owns (or any, for an admin)."""
    lecture = repository.live_lecture(session, lecture_id)
    if lecture is None or not _may_touch(actor, lecture.owner_id):
        return _again(session, actor, "lecture", lecture_id, "There is no such lecture.")
    if not repository.tombstone_lecture(session, lecture.id, now):
        return _again(session, actor, "lecture", lecture_id, "There is no such lecture.")
    transitions.stop_queued_runs(session, [lecture.id], now=now)
    deletion = _record(
        session,
        actor,
        subject_type="lecture",
        subject_id=lecture.id,
        owner_id=lecture.owner_id,
        prefixes=[lecture_prefix(lecture.course_id, lecture.id)],
        now=now,
        details={"course_id": lecture.course_id},
    )
    return deletion


def request_course_deletion(
    session: Session, actor: User, course_id: str, now: datetime
) -> Deletion:
    """Delete a course the actor owns (or any, for an admin), with all its lectures."""
    course = repository.live_course(session, course_id)
    if course is None or not _may_touch(actor, course.owner_id):
        return _again(session, actor, "course", course_id, "There is no such course.")
    if not repository.tombstone_course(session, course.id, now):
        return _again(session, actor, "course", course_id, "There is no such course.")
    scope = repository.covered_course(session, course.id)
    transitions.stop_queued_runs(session, scope, now=now)
    deletion = _record(
        session,
        actor,
        subject_type="course",
        subject_id=course.id,
        owner_id=course.owner_id,
        prefixes=[course_prefix(course.id)],
        now=now,
        details={"lectures": len(scope)},
    )
    return deletion


def request_user_deletion(session: Session, actor: User, user_id: str, now: datetime) -> Deletion:
    """An admin deletes a user and everything they own; their sessions and tokens stop
    working at once. Nobody deletes their own account here (``user.cannot_delete_self``)."""
    if actor.id == user_id:
        raise CannotDeleteSelfError()
    user = repository.existing_user(session, user_id)
    if user is None or not repository.tombstone_user(session, user_id, now):
        return _again(session, actor, "user", user_id, "There is no such user.")
    courses = repository.courses_of_user(session, user_id)
    lectures = repository.lectures_of_user(session, user_id)
    transitions.stop_queued_runs(session, lectures, now=now)
    deletion = _record(
        session,
        actor,
        subject_type="user",
        subject_id=user_id,
        owner_id=user_id,
        prefixes=[course_prefix(c) for c in sorted(courses)],
        now=now,
        details={"courses": len(courses), "lectures": len(lectures)},
    )
    return deletion


def _may_touch(actor: User, owner_id: str) -> bool:
    return actor.is_admin or actor.id == owner_id


def _again(
    session: Session, actor: User, subject_type: str, subject_id: str, missing: str
) -> Deletion:
    """The deletion already under way for a subject the actor may delete (a repeated
    request); ``NotFoundError`` with ``missing`` otherwise."""
    earlier = repository.pending_deletion_of(session, subject_type, subject_id)
    if earlier is None or not (actor.is_admin or earlier.owner_id == actor.id):
        raise NotFoundError(missing, **{f"{subject_type}_id": subject_id})
    return earlier


def _record(
    session: Session,
    actor: User,
    *,
    subject_type: str,
    subject_id: str,
    owner_id: str,
    prefixes: list[str],
    now: datetime,
    details: dict[str, str | int],
) -> Deletion:
    deletion = Deletion(
        subject_type=subject_type,
        subject_id=subject_id,
        owner_id=owner_id,
        requested_by=actor.id,
        requested_at=now,
        status=DeletionStatus.PENDING,
        prefixes=prefixes,
        attempts=0,
        next_attempt_at=now,
        removed={},
        verification={},
    )
    session.add(deletion)
    session.flush()
    # Last write of the request: the append holds the audit chain's lock until the commit.
    audit.record(
        session,
        _REQUESTED[subject_type],
        actor_id=actor.id,
        subject_type=subject_type,
        subject_id=subject_id,
        details={"deletion_id": deletion.id, "owner_id": owner_id, **details},
        now=now,
    )
    log.info(
        "deletion.requested",
        deletion_id=deletion.id,
        subject_type=subject_type,
        subject_id=subject_id,
        actor_id=actor.id,
    )
    return deletion


def get_deletion(session: Session, actor: User, deletion_id: str) -> Deletion:
    """A deletion the actor may see: its subject's owner, or an admin."""
    deletion = session.get(Deletion, deletion_id)
    if deletion is None or not (actor.is_admin or deletion.owner_id == actor.id):
        raise NotFoundError("There is no such deletion.", deletion_id=deletion_id)
    return deletion


def list_deletions(session: Session, actor: User, limit: int = 100) -> Sequence[Deletion]:
    return repository.deletions_visible_to(session, actor.id, everyone=actor.is_admin, limit=limit)


def receipt_for(session: Session, actor: User, deletion_id: str, now: datetime) -> Deletion:
    """A completed deletion whose receipt the actor downloads (recorded in the audit log);
    ``DeletionPendingError`` while the purge has not finished."""
    deletion = get_deletion(session, actor, deletion_id)
    if deletion.status != DeletionStatus.COMPLETED:
        raise DeletionPendingError(deletion_id=deletion_id)
    audit.record(
        session,
        actions.RECEIPT_DOWNLOADED,
        actor_id=actor.id,
        subject_type="deletion",
        subject_id=deletion.id,
        now=now,
    )
    return deletion
