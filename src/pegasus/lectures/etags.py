"""ETags of the review resources and how ``If-Match`` is judged.

Every ETag is a strong, quoted validator (RFC 9110 §8.8.3) that a client can also build from
the JSON it already has:

- the whole transcript or kit (``GET .../transcript``, ``GET .../kit``):
  ``"transcript.<lecture_id>.<v>"`` / ``"kit.<lecture_id>.<v>"``, ``v`` the artifact row's
  ``version``, which every write of the stored object bumps;
- one item (each PATCH response): ``"segment.<lecture_id>.<position>.<v>"``,
  ``"flashcard.<lecture_id>.<item_id>.<v>"`` or ``"quiz.<lecture_id>.<item_id>.<v>"``,
  ``v`` the item's own ``version`` field in the stored JSON.

A write's ``If-Match`` passes when it is absent, ``*``, the item's current ETag (only a change
of that item conflicts), or the current ETag of the whole transcript or kit (any change to it
since conflicts). Weak tags (``W/"..."``) never pass: ``If-Match`` compares strongly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

ItemKind = Literal["segment", "flashcard", "quiz"]

T = TypeVar("T")

_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A resource as read or written, with the ETag to send for it."""

    value: T
    etag: str


def artifact_etag(kind: str, lecture_id: str, version: int) -> str:
    """The ETag of a whole stored transcript or kit at artifact ``version``."""
    return f'"{kind}.{_token(lecture_id)}.{version}"'


def item_etag(kind: ItemKind, lecture_id: str, item: str | int, version: int) -> str:
    """The ETag of one segment (``item`` = its position), flashcard or quiz item."""
    return f'"{kind}.{_token(lecture_id)}.{_token(str(item))}.{version}"'


def if_match_passes(header: str | None, current: Iterable[str]) -> bool:
    """Whether a write with ``If-Match: header`` may go ahead when the target's ETags are
    ``current``: no header or ``*`` always; otherwise one listed strong tag must be current.
    An unquoted tag is read as if quoted (some clients strip the quotes)."""
    if header is None or not header.strip():
        return True
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    if "*" in tags:
        return True
    valid = {tag.strip('"') for tag in current}
    return any(not tag.startswith("W/") and tag.strip('"') in valid for tag in tags)


def _token(value: str) -> str:
    # Ids are short hex/uuid strings; anything else is hashed so the tag stays header-safe.
    if _SAFE.fullmatch(value):
        return value
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
