"""Row counts and fingerprints of tables: SHA-256 over every row, ordered by primary key,
each row rendered canonically as one JSON line (the column names first).

A fingerprint proves two databases of the same kind hold the same rows: the backup's
snapshot and a restored copy of it. Values are rendered from what the database driver
returns (sqlite3 or psycopg), with timestamps in UTC so the session's time zone does not
matter, and text keys ordered bytewise (``COLLATE "C"`` on PostgreSQL) so the database's
collation does not either.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID


class TableShape(NamedTuple):
    """A table's columns and the columns its rows are ordered by."""

    name: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]  # primary key, or every column when there is none
    collate_c: frozenset[str]  # columns to order with COLLATE "C" (PostgreSQL text)


class TableFingerprint(NamedTuple):
    rows: int
    fingerprint: str  # "sha256:<hex>"


def quote(name: str) -> str:
    """An SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def select_ordered(shape: TableShape) -> str:
    """``SELECT`` every column of ``shape`` in fingerprint order."""
    columns = ", ".join(quote(column) for column in shape.columns)
    order = ", ".join(
        quote(column) + (' COLLATE "C"' if column in shape.collate_c else "")
        for column in shape.order_by
    )
    return f"SELECT {columns} FROM {quote(shape.name)} ORDER BY {order}"  # nosec B608  # quoted


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data that does not depend on the driver's session."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return {type(value).__name__: str(value)}


def fingerprint_rows(
    shape: TableShape, rows: Iterable[Sequence[Any]], tick: Callable[[int], None] | None = None
) -> TableFingerprint:
    """Count and hash ``rows`` (already in ``select_ordered`` order) in one pass."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(shape.columns)).encode() + b"\n")
    count = 0
    for row in rows:
        line = json.dumps([canonical(value) for value in row], sort_keys=True, ensure_ascii=False)
        digest.update(line.encode() + b"\n")
        count += 1
        if tick is not None and count % 1000 == 0:
            tick(count)
    return TableFingerprint(rows=count, fingerprint=f"sha256:{digest.hexdigest()}")
