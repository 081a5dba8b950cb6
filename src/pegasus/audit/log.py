"""Appending to the audit log, and reading it back for an admin.

``record`` appends one entry in the CALLER's transaction and never commits: the entry is
kept exactly when what it records is kept, and an action that rolls back leaves no entry.

Contract of ``record``:

- It MUST be called in the transaction that does the action, by the service that does it
  (so the API, the web app and the CLI all record the same way).
- It SHOULD be the last write of that action: its first statement takes the chain head's
  lock (``UPDATE audit_chain_head ...``: SQLite's write lock, a row lock on PostgreSQL),
  which is held until the transaction ends, so every other append waits for it. Taking
  other row locks after it, in a long transaction, makes others wait longer.
- It refuses (``ValueError``) an action not in ``pegasus.audit.actions.KNOWN_ACTIONS`` and
  any value that looks like an e-mail address: the log holds ids, counts and codes, never
  the personal data itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pegasus.audit.actions import KNOWN_ACTIONS
from pegasus.audit.chain import EntryContent, entry_hash
from pegasus.db.base import utcnow
from pegasus.db.models.compliance import AuditChainHead, AuditEvent
from pegasus.db.session import rows_changed

#: The chain head's one row.
HEAD_ID = 1

DetailValue = str | int | float | bool | None

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Column widths of ``audit_events`` (checked here so SQLite refuses what PostgreSQL would).
_MAX_ID = 36
_MAX_SUBJECT_ID = 64
_MAX_SUBJECT_TYPE = 32
#: A detail is an id, a count or a code: short.
MAX_DETAIL_CHARS = 200
MAX_DETAILS = 20


def _plain_id(name: str, value: str | None, max_chars: int) -> None:
    if value is None:
        return
    if not value or len(value) > max_chars:
        raise ValueError(f"audit {name} must be 1 to {max_chars} characters")
    if "@" in value:
        raise ValueError(f"audit {name} looks like an e-mail address; record the user's id")


def _checked_details(details: Mapping[str, DetailValue] | None) -> dict[str, DetailValue]:
    checked: dict[str, DetailValue] = {}
    for key, value in (details or {}).items():
        if not isinstance(key, str) or not _NAME.match(key):
            raise ValueError(f"audit detail name {key!r} is not a lower-case identifier")
        if isinstance(value, str):
            if len(value) > MAX_DETAIL_CHARS:
                raise ValueError(f"audit detail {key} is longer than {MAX_DETAIL_CHARS} chars")
            if "@" in value:
                raise ValueError(
                    f"audit detail {key} looks like an e-mail address; the audit log "
                    "stores ids, counts and codes only"
                )
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"audit detail {key} is not a finite number")
        elif value is not None and not isinstance(value, bool | int | float):
            raise ValueError(f"audit detail {key} is not a string, number, boolean or null")
        checked[key] = value
    if len(checked) > MAX_DETAILS:
        raise ValueError(f"an audit entry holds at most {MAX_DETAILS} details")
    return checked


def record(
    session: Session,
    action: str,
    *,
    actor_id: str | None,
    subject_type: str,
    subject_id: str | None,
    details: Mapping[str, DetailValue] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one entry to the audit log in the caller's transaction (see the module's
    contract) and return it. ``actor_id`` is the user who acted (None: the operator's CLI,
    the system, or an anonymous caller); the subject is what the action was done to."""
    if action not in KNOWN_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to pegasus.audit.actions")
    if not _NAME.match(subject_type) or len(subject_type) > _MAX_SUBJECT_TYPE:
        raise ValueError(f"audit subject type {subject_type!r} is not a lower-case identifier")
    _plain_id("actor id", actor_id, _MAX_ID)
    _plain_id("subject id", subject_id, _MAX_SUBJECT_ID)
    checked = _checked_details(details)
    occurred_at = now or utcnow()

    # First statement: the head's lock, so appends are serialized on every database.
    moved = session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(seq=AuditChainHead.seq + 1)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(moved) != 1:
        raise RuntimeError("the audit log has no chain head: run `pegasus db upgrade`")
    seq, prev_hash = session.execute(
        select(AuditChainHead.seq, AuditChainHead.last_hash).where(AuditChainHead.id == HEAD_ID)
    ).one()
    content = EntryContent(
        seq=seq,
        occurred_at=occurred_at,
        action=action,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        details=checked,
    )
    event = AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        action=action,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        details=checked,
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, content),
    )
    session.add(event)
    session.flush()
    session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(last_hash=event.hash)
        .execution_options(synchronize_session=False)
    )
    return event


#: The most entries one page of ``list_events`` holds.
MAX_PAGE = 500


def list_events(
    session: Session,
    *,
    limit: int = 50,
    before_seq: int | None = None,
    action: str | None = None,
    actor_id: str | None = None,
    subject_id: str | None = None,
) -> list[AuditEvent]:
    """Entries newest first, at most ``limit`` (1 to ``MAX_PAGE``); the next page starts
    ``before_seq`` the last one's ``seq``. Filters: an action, an actor, a subject."""
    query = select(AuditEvent)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if subject_id is not None:
        query = query.where(AuditEvent.subject_id == subject_id)
    page = max(1, min(limit, MAX_PAGE))
    return list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(page)))
