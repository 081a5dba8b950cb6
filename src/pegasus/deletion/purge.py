"""The background purge: remove a deletion's objects and rows, verify, write the receipt.

One attempt at one deletion (``purge_one``):

1. claim it (its next attempt moves ahead, so another replica skips it) and read what it
   covers; while a live worker still runs a stage of a covered lecture the attempt is put
   off (``deletion.work_in_progress``): that stage stops at its next progress report;
2. empty its storage prefixes and the staging space of its resumable uploads (outside any
   transaction: storage calls never hold the database's write lock);
3. delete its rows, children first, adding the counts to ``Deletion.removed``;
4. verify in a fresh transaction and a fresh listing that no covered row and no object
   under its prefixes is left; then mark it completed with an audit entry, or put it off.

Any failure puts the attempt off with backoff (``deletion.*`` or the storage error's code);
a deletion is retried until it completes. Every step is idempotent, so an attempt that dies
half-way is simply run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from pegasus import audit
from pegasus.audit import actions
from pegasus.db.base import utcnow
from pegasus.db.models import Deletion, DeletionStatus
from pegasus.db.session import unit_of_work
from pegasus.deletion import repository
from pegasus.errors import PegasusError
from pegasus.storage.base import ObjectStore
from pegasus.uploads.service import staging_prefix

log = structlog.get_logger(__name__)

#: How long one attempt holds its claim; an attempt that dies is retried after it.
ATTEMPT_CLAIM = timedelta(minutes=10)
#: When to look again while a worker still runs a stage of a covered lecture.
WORK_IN_PROGRESS_DELAY = timedelta(seconds=10)
#: Backoff after a failed attempt: doubling from this, up to ``MAX_BACKOFF``.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class PurgeOutcome:
    """What one attempt did: ``completed``, ``deferred`` (and why) or ``skipped``."""

    outcome: str
    reason: str | None = None


def purge_due(
    session_factory: sessionmaker[Session],
    store: ObjectStore,
    now: datetime,
    *,
    limit: int = 20,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Run one attempt of every due pending deletion (a reconciler housekeeping job); how
    many completed. Safe on every replica at once."""
    with unit_of_work(session_factory) as session:
        due = list(repository.due_deletions(session, now, limit))
    return sum(
        purge_one(session_factory, store, deletion_id, now=now, clock=clock).outcome == "completed"
        for deletion_id in due
    )


def purge_one(
    session_factory: sessionmaker[Session],
    store: ObjectStore,
    deletion_id: str,
    *,
    now: datetime,
    clock: Callable[[], datetime] = utcnow,
) -> PurgeOutcome:
    """One attempt at deletion ``deletion_id`` (see the module docstring)."""
    bound = log.bind(deletion_id=deletion_id)
    with unit_of_work(session_factory) as session:
        if not repository.take_attempt(session, deletion_id, now, now + ATTEMPT_CLAIM):
            return PurgeOutcome("skipped")
        deletion = _get(session, deletion_id)
        scope = repository.covered(session, deletion)
        attempts = deletion.attempts
        busy = repository.running_runs(session, scope.lecture_ids, now)
        if busy:
            _put_off(deletion, "deletion.work_in_progress", now + WORK_IN_PROGRESS_DELAY)
            bound.info("deletion.purge.waiting", running_stages=busy)
            return PurgeOutcome("deferred", "deletion.work_in_progress")
        staged = [(u.id, u.storage_state) for u in repository.uploads_of(session, scope)]
        prefixes = [*deletion.prefixes, *(staging_prefix(upload_id) for upload_id, _ in staged)]
    try:
        objects = 0
        for _, state in staged:
            store.discard_resumable(state)
        for prefix in prefixes:
            objects += store.delete_prefix(prefix)
    except PegasusError as exc:
        return _failed(session_factory, deletion_id, exc.code, attempts, now, bound)
    with unit_of_work(session_factory) as session:
        removed = repository.delete_rows(session, scope)
        deletion = _get(session, deletion_id)
        totals = dict(deletion.removed)
        for table, count in [*removed.items(), ("objects", objects)]:
            totals[table] = int(totals.get(table, 0)) + count
        deletion.removed = totals
    try:
        objects_left = sum(1 for prefix in prefixes for _ in store.list_prefix(prefix))
    except PegasusError as exc:
        return _failed(session_factory, deletion_id, exc.code, attempts, now, bound)
    with unit_of_work(session_factory) as session:
        deletion = _get(session, deletion_id)
        left = repository.rows_left(session, scope)
        passed = not left and objects_left == 0
        finished = clock()
        deletion.verification = {
            "checked_at": finished.isoformat(),
            "rows_left": sum(left.values()),
            "rows_left_by_table": left,
            "objects_left": objects_left,
            "prefixes_checked": prefixes,
            "passed": passed,
        }
        if not passed:
            delay = _backoff(attempts)
            _put_off(deletion, "deletion.verification_failed", now + delay)
            bound.warning(
                "deletion.purge.verification_failed", rows_left=left, objects_left=objects_left
            )
            return PurgeOutcome("deferred", "deletion.verification_failed")
        deletion.status = DeletionStatus.COMPLETED
        deletion.completed_at = finished
        deletion.last_error_code = None
        event = audit.record(
            session,
            actions.DELETION_COMPLETED,
            actor_id=None,
            subject_type=deletion.subject_type,
            subject_id=deletion.subject_id,
            details={
                "deletion_id": deletion.id,
                "objects": int(totals.get("objects", 0)),
                "rows": sum(int(v) for k, v in totals.items() if k != "objects"),
                "verified": True,
            },
            now=finished,
        )
        deletion.verification = {**deletion.verification, "audit_seq": event.seq}
    bound.info(
        "deletion.purge.completed",
        subject_type=deletion.subject_type,
        subject_id=deletion.subject_id,
        removed=totals,
        attempts=attempts,
    )
    return PurgeOutcome("completed")


def _get(session: Session, deletion_id: str) -> Deletion:
    deletion = session.get(Deletion, deletion_id)
    assert deletion is not None, deletion_id  # deletions are never removed
    return deletion


def _put_off(deletion: Deletion, code: str, until: datetime) -> None:
    deletion.last_error_code = code
    deletion.next_attempt_at = until


def _backoff(attempts: int) -> timedelta:
    doublings = min(max(0, attempts - 1), 16)
    return min(MAX_BACKOFF, FIRST_BACKOFF * (1 << doublings))


def _failed(
    session_factory: sessionmaker[Session],
    deletion_id: str,
    code: str,
    attempts: int,
    now: datetime,
    bound: structlog.stdlib.BoundLogger,
) -> PurgeOutcome:
    delay = _backoff(attempts)
    with unit_of_work(session_factory) as session:
        _put_off(_get(session, deletion_id), code, now + delay)
    bound.warning("deletion.purge.failed", error_code=code, retry_in_seconds=delay.total_seconds())
    return PurgeOutcome("deferred", code)
