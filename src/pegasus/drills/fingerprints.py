"""Row counts and per-column fingerprints of a database's tables, to prove nothing changed.

Each column's fingerprint is the SHA-256 of its values in primary-key order, so two
snapshots can be compared on the columns both have: a migration that adds or drops a
column still shows whether the data of every other column is untouched. Values are read as
the driver returns them (no ORM types) and written in one plain text form.

Left out: ``alembic_version`` (it changes by design), and on SQLite each full-text virtual
table with its shadow tables (derived from ``transcript_segments``, which is counted).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text

SKIPPED = frozenset({"alembic_version"})
_NULL = "\x00null"


@dataclass(frozen=True)
class TableFingerprint:
    name: str
    rows: int
    #: column -> SHA-256 of its values in primary-key order
    columns: dict[str, str]
    #: column -> how many rows hold a value (not NULL)
    filled: dict[str, int]

    @property
    def digest(self) -> str:
        """One fingerprint for the whole table (its columns' fingerprints, by name)."""
        joined = "\n".join(f"{name}={self.columns[name]}" for name in sorted(self.columns))
        return hashlib.sha256(joined.encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, TableFingerprint]
    skipped: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        return {name: table.rows for name, table in sorted(self.tables.items())}

    def digests(self) -> dict[str, str]:
        return {name: table.digest for name, table in sorted(self.tables.items())}

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.tables.values())


def _plain(value: Any) -> str:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "b64:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, float | Decimal):
        return repr(float(value))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


def _virtual_tables(connection: Connection) -> set[str]:
    if connection.dialect.name != "sqlite":
        return set()
    names = connection.execute(
        text("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")
    ).scalars()
    return {str(name) for name in names}


def _table(connection: Connection, name: str) -> TableFingerprint:
    inspector = inspect(connection)
    columns = [column["name"] for column in inspector.get_columns(name)]
    primary = inspector.get_pk_constraint(name).get("constrained_columns") or columns
    quote = connection.dialect.identifier_preparer.quote
    listed = ", ".join(quote(column) for column in columns)
    query = f"SELECT {listed} FROM {quote(name)}"  # nosec B608  # quoted schema names
    result = connection.execute(text(query))
    rows = [[_plain(value) for value in row] for row in result]
    order = [columns.index(column) for column in primary]
    rows.sort(key=lambda row: [row[i] for i in order])
    digests: dict[str, str] = {}
    filled: dict[str, int] = {}
    for index, column in enumerate(columns):
        digest = hashlib.sha256()
        for row in rows:
            digest.update(row[index].encode())
            digest.update(b"\x1f")
        digests[column] = digest.hexdigest()
        filled[column] = sum(1 for row in rows if row[index] != _NULL)
    return TableFingerprint(name=name, rows=len(rows), columns=digests, filled=filled)


def snapshot(engine: Engine) -> Snapshot:
    """Every table's row count and column fingerprints, read in one transaction."""
    with engine.connect() as connection, connection.begin():
        names = sorted(inspect(connection).get_table_names())
        virtual = _virtual_tables(connection)
        skipped = {
            name
            for name in names
            if name in SKIPPED or any(name == v or name.startswith(f"{v}_") for v in virtual)
        }
        tables = {name: _table(connection, name) for name in names if name not in skipped}
    return Snapshot(tables=tables, skipped=tuple(sorted(skipped)))


@dataclass(frozen=True)
class Comparison:
    """What changed from one snapshot to the next."""

    #: tables in both whose rows or shared columns differ: table -> what differs
    changed: dict[str, list[str]]
    #: tables only in the first snapshot -> the rows they held (lost with the table)
    dropped_tables: dict[str, int]
    #: tables only in the second snapshot -> rows they hold
    added_tables: dict[str, int]
    #: "table.column" only in the first snapshot -> how many rows held a value
    dropped_columns: dict[str, int]
    #: "table.column" only in the second snapshot
    added_columns: list[str]
    compared_tables: int
    compared_rows: int

    @property
    def rows_lost(self) -> int:
        """Rows and values the second snapshot no longer has."""
        return sum(self.dropped_tables.values()) + sum(self.dropped_columns.values())

    @property
    def unchanged(self) -> bool:
        return not self.changed

    def describe(self) -> str:
        parts = [f"{self.compared_tables} tables, {self.compared_rows} rows compared"]
        if self.changed:
            parts.append(
                "changed: " + "; ".join(f"{t} ({', '.join(d)})" for t, d in self.changed.items())
            )
        else:
            parts.append("row counts and shared columns' fingerprints equal")
        if self.dropped_tables:
            parts.append(f"tables dropped (rows they held): {self.dropped_tables}")
        if self.added_tables:
            parts.append(f"tables added (rows): {self.added_tables}")
        if self.dropped_columns:
            parts.append(f"columns dropped (values they held): {self.dropped_columns}")
        if self.added_columns:
            parts.append(f"columns added: {self.added_columns}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "dropped_tables": self.dropped_tables,
            "added_tables": self.added_tables,
            "dropped_columns": self.dropped_columns,
            "added_columns": self.added_columns,
            "compared_tables": self.compared_tables,
            "compared_rows": self.compared_rows,
            "rows_lost": self.rows_lost,
        }


def compare(before: Snapshot, after: Snapshot) -> Comparison:
    """Compare ``after`` with ``before``: row counts and the columns both snapshots have."""
    changed: dict[str, list[str]] = {}
    dropped_columns: dict[str, int] = {}
    added_columns: list[str] = []
    shared = sorted(set(before.tables) & set(after.tables))
    for name in shared:
        old, new = before.tables[name], after.tables[name]
        problems: list[str] = []
        if old.rows != new.rows:
            problems.append(f"rows {old.rows} -> {new.rows}")
        for column in sorted(set(old.columns) & set(new.columns)):
            if old.columns[column] != new.columns[column]:
                problems.append(f"column {column}")
        if problems:
            changed[name] = problems
        for column in sorted(set(old.columns) - set(new.columns)):
            dropped_columns[f"{name}.{column}"] = old.filled[column]
        added_columns += [f"{name}.{c}" for c in sorted(set(new.columns) - set(old.columns))]
    return Comparison(
        changed=changed,
        dropped_tables={
            n: before.tables[n].rows for n in sorted(set(before.tables) - set(after.tables))
        },
        added_tables={
            n: after.tables[n].rows for n in sorted(set(after.tables) - set(before.tables))
        },
        dropped_columns=dropped_columns,
        added_columns=added_columns,
        compared_tables=len(shared),
        compared_rows=sum(before.tables[n].rows for n in shared),
    )
