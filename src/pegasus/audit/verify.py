"""Verifying the audit log: recompute the chain and name its first broken link.

Entries are read in ``seq`` order, a batch at a time (memory stays flat however long the log
is). Each must follow the one before it (``seq`` contiguous from 1), name its hash as its
``prev_hash`` (``GENESIS_HASH`` for entry 1) and hash to its own ``hash``. Then the head must
name the newest entry, seq and hash, which catches the newest entries being deleted: their
removal leaves every remaining link intact.

What it cannot catch alone: someone able to write the database who rewrites the whole chain
from some entry on, head included. Keep a copy of the head (``head_seq``, ``head_hash``)
outside the database now and then: a later report whose chain no longer contains that
hash at that seq shows the rewrite (``docs/security/audit-log.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pegasus.audit.chain import GENESIS_HASH, EntryContent, entry_hash
from pegasus.audit.log import HEAD_ID
from pegasus.db.models.compliance import AuditChainHead, AuditEvent

#: Entries read per query.
BATCH = 1000


@dataclass(frozen=True)
class ChainReport:
    """The outcome of ``verify_chain``: ``ok``, or the first broken link and why."""

    #: Entries whose links and hashes were checked (up to the first broken one).
    checked: int
    ok: bool
    #: The seq of the first entry that is missing, altered or out of the chain.
    first_broken_seq: int | None
    #: One sentence: what is intact, or what is broken where.
    reason: str
    #: What the head names: the newest entry's seq and hash (keep a copy off the database).
    head_seq: int
    head_hash: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _head(session: Session) -> tuple[int, str] | None:
    row = session.execute(
        select(AuditChainHead.seq, AuditChainHead.last_hash).where(AuditChainHead.id == HEAD_ID)
    ).one_or_none()
    return (row.seq, row.last_hash) if row is not None else None


def _gap(expected: int, found: int) -> str:
    missing = (
        f"entry {expected} is missing"
        if found == expected + 1
        else f"entries {expected} to {found - 1} are missing"
    )
    if expected == 1:
        return f"{missing}: the log starts at entry {found}"
    return f"{missing}: entry {found} follows entry {expected - 1}"


def verify_chain(session: Session) -> ChainReport:
    """Recompute the whole chain (read only) and report its first broken link."""
    head = _head(session)
    if head is None:
        return ChainReport(
            0, False, None, "the chain head (audit_chain_head id 1) is missing", 0, ""
        )
    head_seq, head_hash = head

    def broken(checked: int, seq: int, reason: str) -> ChainReport:
        return ChainReport(checked, False, seq, reason, head_seq, head_hash)

    checked = 0
    last_seq, last_hash = 0, GENESIS_HASH
    hash_at_head: str | None = GENESIS_HASH if head_seq == 0 else None
    columns = (
        AuditEvent.seq,
        AuditEvent.occurred_at,
        AuditEvent.action,
        AuditEvent.actor_id,
        AuditEvent.subject_type,
        AuditEvent.subject_id,
        AuditEvent.details,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    while True:
        rows = session.execute(
            select(*columns).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            expected = last_seq + 1
            if row.seq != expected:
                return broken(checked, expected, _gap(expected, row.seq))
            if row.prev_hash != last_hash:
                after = "the genesis hash" if expected == 1 else f"entry {last_seq}'s hash"
                return broken(
                    checked,
                    row.seq,
                    f"entry {row.seq} is out of the chain: its previous hash is not {after}",
                )
            content = EntryContent(
                seq=row.seq,
                occurred_at=row.occurred_at,
                action=row.action,
                actor_id=row.actor_id,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                details=row.details,
            )
            try:
                recomputed = entry_hash(row.prev_hash, content)
            except (TypeError, ValueError):
                recomputed = ""
            if recomputed != row.hash:
                return broken(
                    checked,
                    row.seq,
                    f"entry {row.seq} was altered: its hash does not match its contents",
                )
            checked += 1
            last_seq, last_hash = row.seq, row.hash
            if row.seq == head_seq:
                hash_at_head = row.hash
    if last_seq < head_seq:
        missing = (
            "every entry is missing"
            if last_seq == 0
            else f"the newest entries after {last_seq} are missing"
        )
        return broken(checked, last_seq + 1, f"{missing}: the head names entry {head_seq}")
    if hash_at_head != head_hash:
        return broken(
            checked,
            head_seq,
            f"entry {head_seq} was replaced: the head names another hash for it",
        )
    if last_seq > head_seq:
        # Appended while this ran (the head moved on), or written past the log's back.
        newest = session.scalar(select(func.max(AuditEvent.seq))) or 0
        now_head = _head(session)
        if now_head is None or now_head[0] < newest:
            named = now_head[0] if now_head else head_seq
            return broken(
                checked,
                named + 1,
                f"entry {named + 1} was added outside the audit log: the head names entry {named}",
            )
    if checked == 0:
        reason = "the chain is intact: it has no entries yet"
    else:
        reason = f"the chain is intact: {checked} entries, the newest is entry {last_seq}"
    return ChainReport(checked, True, None, reason, head_seq, head_hash)
