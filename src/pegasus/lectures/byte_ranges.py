"""HTTP ``Range: bytes=...`` requests (RFC 9110 section 14) resolved against an object size."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: At most 18 digits: any real offset fits, and int() never sees thousands of digits.
_SPEC = re.compile(r"\A(?:(\d{1,18})-(\d{0,18})|-(\d{1,18}))\Z")


@dataclass(frozen=True)
class ByteRange:
    """The inclusive byte range ``start`` .. ``end`` of an object of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiableError(Exception):
    """No byte of the requested range exists in the object (answer 416)."""


def resolve_range(header: str | None, size: int) -> ByteRange | None:
    """The single range ``header`` asks for within ``size`` bytes.

    Returns None when the whole object should be sent instead: no header, a unit other than
    ``bytes``, a header that does not parse, or several ranges (a server may answer those
    with the full 200). Raises ``RangeNotSatisfiableError`` when the range starts at or past
    the end (``bytes=a-`` with ``a >= size``), asks for an empty suffix (``bytes=-0``), or the
    object is empty. An end past the object's end is cut to its last byte, and a suffix longer
    than the object means all of it.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _SPEC.match(spec.strip())
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        count = int(suffix)
        if count == 0 or size == 0:
            raise RangeNotSatisfiableError
        return ByteRange(start=max(size - count, 0), end=size - 1, size=size)
    start = int(first)
    end = int(last) if last else None
    if end is not None and end < start:
        return None  # not a valid range: ignore the header
    if start >= size:
        raise RangeNotSatisfiableError
    return ByteRange(start=start, end=size - 1 if end is None else min(end, size - 1), size=size)
