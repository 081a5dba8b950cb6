"""Compliance records: the hash-chained audit log and deletion requests with their receipts.

Neither table has a foreign key to what it describes: an audit entry and a deletion receipt
outlive the course, lecture or user they name, and hold ids only, never the PII itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pegasus.db.base import Base, IdMixin, UTCDateTime, utcnow

#: ``prev_hash`` of the first entry, and ``last_hash`` of an empty chain.
GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One audit log entry. ``hash`` is the SHA-256 of ``prev_hash`` and the entry's
    canonical form (``pegasus.audit.chain``); rows are only ever inserted."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    action: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    #: Unique, so two writers can never fork the chain from the same entry.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)


class AuditChainHead(Base):
    """The one row (``id`` 1) naming the chain's newest entry. An append updates it first,
    which takes its write lock, so appends are serialized on every database; and removing
    the newest entries is caught because the head still names them."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class DeletionStatus:
    """A deletion's state (text, no CHECK constraint, like stage statuses)."""

    PENDING = "pending"
    COMPLETED = "completed"


class Deletion(IdMixin, Base):
    """A request to delete a lecture, a course or a user, and once purged its receipt.

    The subject is tombstoned in the same transaction that adds this row; the purge (a
    background job, retried until done) removes its rows and every object under
    ``prefixes``, verifies nothing is left and fills ``removed``, ``verification`` and
    ``completed_at``."""

    __tablename__ = "deletions"
    __table_args__ = (Index("ix_deletions_status_next_attempt_at", "status", "next_attempt_at"),)

    subject_type: Mapped[str] = mapped_column(String(16), nullable=False)  # lecture|course|user
    subject_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    #: Who may download the receipt (besides admins): the subject's owner.
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DeletionStatus.PENDING)
    #: Storage prefixes to empty, fixed when the deletion is requested.
    prefixes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Counts removed, by table and ``objects``.
    removed: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    #: ``rows_left``, ``objects_left`` and ``passed``, from the check after the purge.
    verification: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
