"""Stored objects that a database commit owns: storage and the database never disagree.

- An object that a committed artifact row describes is never overwritten. A new version is
  stored under a new key, the row is switched to it (key, size, SHA-256) in the
  transaction, and the old version is deleted once the commit succeeded (``after_commit``).
- What a transaction stored is deleted again when that transaction rolls back
  (``after_rollback``), a failed commit included; what a crash left behind (no hook ran)
  is removed by the sweeper (``pegasus.pipeline.sweeper``) after a grace period.
- Readers go through the row, and read the row again when a commit moved it on between
  their reading the row and the object (the old version is gone by then).

A new version's key carries a random tag (``transcript.v7-1a2b3c4d.json``): no two writers
ever share one, so deleting what a rolled-back writer stored can never delete what the next
writer, who took the row's lock as soon as the rollback released it, stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, SessionTransaction

from pegasus.db.models import Artifact
from pegasus.db.session import after_commit
from pegasus.errors import ObjectMissingError, PegasusError
from pegasus.pipeline.base import versioned_name
from pegasus.storage.base import ObjectStore, StoredObject
from pegasus.storage.keys import lecture_key

log = structlog.get_logger(__name__)

_ROLLBACK_JOBS = "pegasus.after_rollback"
#: Reads of an artifact that a concurrent commit may move on (each retry re-reads the row).
READ_ATTEMPTS = 3


def after_rollback(session: Session, job: Callable[[], None]) -> None:
    """Run ``job`` if the current transaction of ``session`` ends without committing (rolled
    back, a failed commit included, or closed); drop it when the transaction commits. A
    failing job is logged: the sweeper removes what it left."""
    jobs: list[Callable[[], None]] | None = session.info.get(_ROLLBACK_JOBS)
    if jobs is None:
        jobs = session.info[_ROLLBACK_JOBS] = []
        if not event.contains(session, "after_transaction_end", _ended):
            event.listen(session, "after_transaction_end", _ended)
            event.listen(session, "after_commit", _committed)
    jobs.append(job)


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested or transaction.parent is not None:
        return  # a savepoint: the transaction around it may still commit
    jobs: list[Callable[[], None]] = session.info.pop(_ROLLBACK_JOBS, None) or []
    for job in jobs:
        try:
            job()
        except Exception:
            log.exception("db.after_rollback.failed")


def _committed(session: Session) -> None:
    session.info.pop(_ROLLBACK_JOBS, None)


def discard(store: ObjectStore, key: str, *, reason: str) -> None:
    """Delete ``key``, logging rather than raising when storage fails (the sweeper is the
    backstop)."""
    try:
        if store.delete(key):
            log.info("storage.object.discarded", key=key, reason=reason)
    except PegasusError as exc:
        log.warning("storage.object.discard_failed", key=key, reason=reason, code=exc.code)


def new_version_key(course_id: str, lecture_id: str, name: str, version: int) -> str:
    """A key no other writer uses, for version ``version`` of the lecture's object ``name``."""
    return lecture_key(
        course_id, lecture_id, versioned_name(name, f"{version}-{uuid.uuid4().hex[:8]}")
    )


def store_new_version(
    session: Session,
    store: ObjectStore,
    *,
    key: str,
    data: bytes,
    content_type: str = "application/json",
) -> StoredObject:
    """Store ``data`` under the new key ``key``, to be deleted again if this transaction
    rolls back. Call it before the row points there (``switch_artifact``)."""
    stored = store.put_bytes(key, data, content_type=content_type)
    after_rollback(session, lambda: discard(store, key, reason="rolled back"))
    return stored


def switch_artifact(
    session: Session,
    store: ObjectStore,
    *,
    lecture_id: str,
    kind: str,
    old_key: str,
    stored: StoredObject,
) -> None:
    """Point the lecture's ``kind`` row at ``stored`` (key, size and SHA-256) in this
    transaction; ``old_key`` is deleted once it commits."""
    session.execute(
        update(Artifact)
        .where(Artifact.lecture_id == lecture_id, Artifact.kind == kind)
        .values(key=stored.key, size_bytes=stored.size_bytes, sha256=stored.sha256 or "")
        .execution_options(synchronize_session=False)
    )
    if old_key != stored.key:
        after_commit(session, lambda: discard(store, old_key, reason="replaced"))


def discard_replaced(session: Session, store: ObjectStore, replaced: list[str]) -> None:
    """Delete the objects of ``replaced`` (keys rows no longer point to) after the commit."""

    def run() -> None:
        for key in replaced:
            discard(store, key, reason="replaced")

    if replaced:
        after_commit(session, run)


def read_artifact(
    session: Session, store: ObjectStore, lecture_id: str, kind: str
) -> tuple[Artifact, bytes] | None:
    """The lecture's ``kind`` row and the bytes it points to; None without a row. When the
    object is missing because a commit switched the row to a new version (and deleted the
    old one) in between, the row is read again; a row whose own object is missing raises
    ``ObjectMissingError``."""
    row = _artifact(session, lecture_id, kind)
    for _ in range(READ_ATTEMPTS):
        if row is None:
            return None
        key = row.key
        try:
            return row, store.get_bytes(key)
        except ObjectMissingError:
            session.expire(row)
            row = _artifact(session, lecture_id, kind)
            if row is None or row.key == key:
                raise
    raise ObjectMissingError(lecture_id=lecture_id, kind=kind)


def _artifact(session: Session, lecture_id: str, kind: str) -> Artifact | None:
    return session.scalar(
        select(Artifact)
        .where(Artifact.lecture_id == lecture_id, Artifact.kind == kind)
        .execution_options(populate_existing=True)
    )
