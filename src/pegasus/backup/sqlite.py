"""SQLite: the online backup API, table shapes, integrity checks."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from pegasus.backup.errors import BackupError
from pegasus.backup.fingerprint import (
    TableFingerprint,
    TableShape,
    fingerprint_rows,
    quote,
    select_ordered,
)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL (relative paths are under the working dir)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url!r} names no SQLite file to back up or restore into.")
    return Path(database)


@contextlib.contextmanager
def connect(
    path: Path, *, read_only: bool = False, immutable: bool = False
) -> Iterator[sqlite3.Connection]:
    """A connection to ``path``, closed afterwards: read-only when asked, and ``immutable``
    for a file nothing else writes (a set's copy: no journal, no -shm file made)."""
    if read_only or immutable:
        flags = "mode=ro&immutable=1" if immutable else "mode=ro"
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?{flags}", uri=True)
    else:
        connection = sqlite3.connect(path)
    try:
        yield connection
    finally:
        connection.close()


def online_backup(
    source: Path, target: Path, progress: Callable[[int, int], None] | None = None
) -> datetime:
    """Copy ``source`` into the new file ``target`` with the online backup API, in one step
    (one read transaction: writers go on in WAL mode); return the snapshot time."""
    if not source.is_file():
        raise BackupError(f"The SQLite database {source} does not exist.")

    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    with connect(source) as src, connect(target) as dst:
        taken_at = datetime.now(UTC)  # the single step's read transaction starts after this
        src.backup(dst, pages=-1, progress=step)
        # The copy is a file of its own: no WAL (it would need a -shm file to be read).
        dst.execute("PRAGMA journal_mode=DELETE")
    return taken_at


def restore_file(copy: Path, target: Path) -> None:
    """Replace the contents of ``target`` (made if missing) with the database ``copy``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with connect(copy, immutable=True) as src, connect(target) as dst:
        src.backup(dst)


def is_empty(path: Path) -> bool:
    """Whether ``path`` is missing or a database with no schema objects."""
    if not path.exists():
        return True
    if path.stat().st_size == 0:
        return True
    with connect(path, read_only=True) as connection:
        (count,) = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return bool(count == 0)


def table_shapes(connection: sqlite3.Connection) -> list[TableShape]:
    """The ordinary tables (no virtual, shadow or internal ones), by name."""
    names = sorted(
        row[1]
        for row in connection.execute("PRAGMA table_list")
        if row[0] == "main" and row[2] == "table" and not str(row[1]).startswith("sqlite_")
    )
    shapes = []
    for name in names:
        info = connection.execute(f"PRAGMA table_info({quote(name)})").fetchall()
        columns = tuple(str(row[1]) for row in info)
        key = tuple(str(row[1]) for row in sorted(info, key=lambda row: row[5]) if row[5] > 0)
        shapes.append(TableShape(name, columns, key or columns, frozenset()))
    return shapes


def fingerprints(
    connection: sqlite3.Connection, tick: Callable[[int, int], None] | None = None
) -> dict[str, TableFingerprint]:
    """Row count and fingerprint of every table."""
    shapes = table_shapes(connection)
    found = {}
    for index, shape in enumerate(shapes):
        found[shape.name] = fingerprint_rows(shape, connection.execute(select_ordered(shape)))
        if tick is not None:
            tick(index + 1, len(shapes))
    return found


def alembic_revision(connection: sqlite3.Connection) -> str | None:
    """The revision in ``alembic_version``, None when there is no such table or row."""
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def artifact_refs(connection: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Every artifact row's key, size and SHA-256 (none when there is no such table)."""
    try:
        rows = connection.execute("SELECT key, size_bytes, sha256 FROM artifacts ORDER BY key")
    except sqlite3.OperationalError:
        return
    for key, size, sha256 in rows:
        yield {"key": key, "size_bytes": int(size), "sha256": sha256 or ""}


def integrity_problems(connection: sqlite3.Connection) -> list[str]:
    """What ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check`` report (empty: clean)."""
    problems = [
        str(row[0]) for row in connection.execute("PRAGMA integrity_check") if row[0] != "ok"
    ]
    problems += [
        f"foreign key: {row[0]} rowid {row[1]} -> {row[2]}"
        for row in connection.execute("PRAGMA foreign_key_check")
    ]
    return problems
