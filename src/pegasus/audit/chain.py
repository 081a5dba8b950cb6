"""The hash chain: an entry's canonical form and its hash (pure functions, no database).

An entry's hash is the SHA-256 (hex) of the previous entry's hash followed by the entry's
canonical form: the JSON of ``seq``, ``occurred_at`` (ISO 8601, UTC, with microseconds),
``action``, ``actor_id``, ``subject_type``, ``subject_id`` and ``details``, with sorted keys,
no spaces and ASCII only. The first entry's previous hash is ``GENESIS_HASH``. Changing any
field of an entry changes its hash; changing its hash breaks the next entry's link.

The form is a stored format: entries written by one release are verified by the next, so it
must never change (``tests/unit/test_audit_chain.py`` pins it to known hashes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pegasus.db.models.compliance import GENESIS_HASH

__all__ = ["GENESIS_HASH", "EntryContent", "canonical_form", "entry_hash"]


@dataclass(frozen=True)
class EntryContent:
    """What an entry's hash covers (everything but ``prev_hash`` and ``hash`` themselves)."""

    seq: int
    occurred_at: datetime
    action: str
    actor_id: str | None
    subject_type: str
    subject_id: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


def _instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("an audit entry's time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_form(entry: EntryContent) -> str:
    """The entry as canonical JSON. ``ValueError`` (or ``TypeError``) when it cannot be
    written as JSON: a float that is not finite, a value of another type."""
    if not isinstance(entry.details, Mapping):
        raise TypeError("an audit entry's details must be a JSON object")
    document = {
        "seq": entry.seq,
        "occurred_at": _instant(entry.occurred_at),
        "action": entry.action,
        "actor_id": entry.actor_id,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "details": dict(entry.details),
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def entry_hash(prev_hash: str, entry: EntryContent) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the entry's canonical form."""
    text = prev_hash + canonical_form(entry)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
