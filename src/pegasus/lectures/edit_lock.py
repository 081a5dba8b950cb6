"""The statements that serialize writers of a lecture's stored transcript and kit.

A review edit reads the stored JSON, changes it and writes it back; two edits at once must
not both read the same old JSON. So the FIRST statement of an edit's transaction is a write
to the artifact row (``lock_artifact``), before anything else is read:

- SQLite (WAL; pysqlite begins a transaction only at the first write): the write waits for
  the one database writer (busy_timeout), and every read after it sees everything committed
  before it. Reads made before the first write run outside the transaction and may be
  stale by the time the write gets the lock, which is why nothing is read first.
- PostgreSQL: the UPDATE takes the row lock until commit; later statements (READ COMMITTED)
  see what the previous holder committed.

The lock is held until the request's unit of work commits, and the edit writes the object
store, the artifact row and the search index inside it, so the three always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from pegasus.db.models import Artifact, Lecture


@dataclass(frozen=True)
class LockedArtifact:
    """The artifact row an edit now holds: its object key and its version before the edit."""

    key: str
    version_before: int


def _owned(owner_id: str, lecture_id: str) -> list[ColumnElement[bool]]:
    return [
        Artifact.lecture_id == lecture_id,
        Artifact.lecture_id.in_(
            select(Lecture.id).where(
                Lecture.id == lecture_id,
                Lecture.owner_id == owner_id,
                Lecture.deleted_at.is_(None),
            )
        ),
    ]


def lock_artifact(
    session: Session, *, owner_id: str, lecture_id: str, kind: str
) -> LockedArtifact | None:
    """Bump the version of ``owner_id``'s lecture's ``kind`` artifact, taking its write lock.

    MUST be the first statement of the transaction (see the module docstring). None when
    there is no such artifact or the lecture is not ``owner_id``'s (nothing is locked then
    on PostgreSQL; the caller finds out which and refuses).
    """
    row = session.execute(
        update(Artifact)
        .where(Artifact.kind == kind, *_owned(owner_id, lecture_id))
        .values(version=Artifact.version + 1)
        .returning(Artifact.key, Artifact.version)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        return None
    return LockedArtifact(key=row[0], version_before=int(row[1]) - 1)


def hold_artifacts(session: Session, *, owner_id: str, lecture_id: str, kinds: list[str]) -> None:
    """Take the write lock of each of ``kinds`` (in that order) without changing them, so
    edits in flight commit first and later edits see what this transaction did (regenerate
    and retry: the stage they queue reads the stored objects). First statement, as above."""
    for kind in kinds:
        session.execute(
            update(Artifact)
            .where(Artifact.kind == kind, *_owned(owner_id, lecture_id))
            .values(version=Artifact.version)
            .execution_options(synchronize_session=False)
        )
