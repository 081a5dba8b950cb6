"""PostgreSQL: an exported snapshot, pg_dump/pg_restore/pg_amcheck as subprocesses, table
shapes. The tools are found on PATH, else in ``pg_config --bindir``; the password goes to
them in ``PGPASSWORD``, never on a command line."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import make_url

from pegasus.backup.errors import BackupError, BackupToolError
from pegasus.backup.fingerprint import (
    TableFingerprint,
    TableShape,
    fingerprint_rows,
    quote,
    select_ordered,
)

#: ``pg_restore --list`` lines naming a table's data: "<id>; <oid> <oid> TABLE DATA <schema>
#: <name> <owner>".
_TOC_TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ")
_STDERR_TAIL = 2000


def connection_params(url: str) -> dict[str, str]:
    """libpq parameters of a SQLAlchemy ``postgresql[+driver]://`` URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BackupError(f"Not a PostgreSQL URL: {parsed.render_as_string()}")
    params: dict[str, str] = {}
    for name, value in (
        ("host", parsed.host),
        ("port", parsed.port),
        ("user", parsed.username),
        ("password", parsed.password),
        ("dbname", parsed.database),
    ):
        if value:
            params[name] = str(value)
    for name, query_value in parsed.query.items():
        params[name] = query_value if isinstance(query_value, str) else query_value[-1]
    return params


def connect(url: str) -> psycopg.Connection[Any]:
    """A psycopg connection to ``url``; a refused one raises ``BackupError``."""
    try:
        return psycopg.connect(make_conninfo(**connection_params(url)))
    except psycopg.OperationalError as exc:
        raise BackupError(
            f"Cannot connect to the PostgreSQL database: {str(exc).strip()}",
            database=make_url(url).render_as_string(),
        ) from exc


@dataclass(frozen=True)
class Tool:
    """A PostgreSQL client program and how to reach the database with it."""

    path: str
    conninfo: str  # without the password
    env: dict[str, str]

    @classmethod
    def find(cls, name: str, url: str) -> Tool:
        params = connection_params(url)
        env = dict(os.environ)
        password = params.pop("password", None)
        if password is not None:
            env["PGPASSWORD"] = password
        return cls(find_tool(name), make_conninfo(**params), env)

    def version(self) -> str:
        return run([self.path, "--version"], self.env).strip()


def find_tool(name: str) -> str:
    """The path of PostgreSQL client program ``name``."""
    found = shutil.which(name)
    if found:
        return found
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidate = Path(bindir) / name
        if bindir and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise BackupToolError(
        f"{name} was not found on PATH or in `pg_config --bindir`. Install the PostgreSQL "
        "client tools of the server's major version (Debian: postgresql-client).",
        tool=name,
    )


def run(args: list[str], env: dict[str, str]) -> str:
    """Run a tool; return its standard output, or raise ``BackupToolError`` with its errors."""
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupToolError(
            f"{Path(args[0]).name} failed (exit {result.returncode}): "
            f"{result.stderr.strip()[-_STDERR_TAIL:]}",
            tool=args[0],
            exit_code=result.returncode,
        )
    return result.stdout


@dataclass(frozen=True)
class Snapshot:
    """An open REPEATABLE READ, read-only transaction and its exported snapshot."""

    connection: psycopg.Connection[Any]
    snapshot_id: str
    taken_at: datetime
    server_version: str


@contextlib.contextmanager
def snapshot(url: str) -> Iterator[Snapshot]:
    """Hold a snapshot of the database for the ``with`` block (pg_dump --snapshot uses it)."""
    connection = connect(url)
    try:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        # statement_timestamp() is when this first statement, which takes the snapshot,
        # started: everything committed before it is in the snapshot (the data age, RPO).
        row = connection.execute(
            "SELECT pg_export_snapshot(), statement_timestamp(), current_setting('server_version')"
        ).fetchone()
        assert row is not None
        yield Snapshot(connection, str(row[0]), row[1].astimezone(UTC), str(row[2]))
    finally:
        with contextlib.suppress(psycopg.Error):
            connection.rollback()
        connection.close()


@contextlib.contextmanager
def dump(tool: Tool, snapshot_id: str) -> Iterator[IO[bytes]]:
    """``pg_dump --format=custom`` of ``snapshot_id``, read from the yielded stream; raises
    ``BackupToolError`` after the block when pg_dump failed."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [
                tool.path,
                "--format=custom",
                f"--snapshot={snapshot_id}",
                "--no-password",
                f"--dbname={tool.conninfo}",
            ],
            env=tool.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdout is not None
        try:
            yield process.stdout
        finally:
            process.stdout.close()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[-_STDERR_TAIL:]
            raise BackupToolError(f"pg_dump failed (exit {code}): {message}", exit_code=code)


def toc_tables(dump_file: Path) -> list[str]:
    """The tables whose data ``pg_restore --list`` finds in the dump (names in its schema)."""
    listing = run([find_tool("pg_restore"), "--list", str(dump_file)], dict(os.environ))
    return sorted(
        match.group(2)
        for line in listing.splitlines()
        if (match := _TOC_TABLE_DATA.match(line)) is not None
    )


def restore(tool: Tool, dump_file: Path, *, clean: bool) -> None:
    """``pg_restore`` into the target in one transaction (owners and grants left to the
    target's user); ``clean`` drops the dump's objects first."""
    args = [
        tool.path,
        "--no-password",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={tool.conninfo}",
    ]
    if clean:
        args += ["--clean", "--if-exists"]
    run([*args, str(dump_file)], tool.env)


def amcheck(tool: Tool) -> tuple[bool, str]:
    """``pg_amcheck --install-missing --heapallindexed`` on the target: (clean, what it said)."""
    result = subprocess.run(
        [tool.path, "--install-missing", "--heapallindexed", "--no-password", tool.conninfo],
        env={**tool.env, "PGOPTIONS": "-c client_min_messages=warning"},
        capture_output=True,
        text=True,
        check=False,
    )
    said = (result.stdout + result.stderr).strip()[-_STDERR_TAIL:]
    return result.returncode == 0, said or "no corruption found"


_USER_RELATIONS = """
    SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
"""


def is_empty(url: str) -> bool:
    """Whether the database holds no table, view, sequence or index of its own."""
    with connect(url) as connection:
        return connection.execute(_USER_RELATIONS).fetchone() is None


def drop_relations(url: str) -> None:
    """Drop every table, view and sequence in the current schema (restore --force)."""
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    with connect(url) as connection:
        rows = connection.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r','p','v','m','S')"
        ).fetchall()
        for kind in ("v", "m", "r", "p", "S"):
            names = [quote(str(name)) for name, relkind in rows if relkind == kind]
            if names:
                connection.execute(f"DROP {kinds[kind]} IF EXISTS {', '.join(names)} CASCADE")
        connection.commit()


def table_shapes(connection: psycopg.Connection[Any]) -> list[TableShape]:
    """The ordinary tables of the current schema, by name."""
    names = [
        str(row[0])
        for row in connection.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.relname"
        )
    ]
    shapes = []
    for name in names:
        columns = connection.execute(
            "SELECT attname, attcollation <> 0 FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (quote(name),),
        ).fetchall()
        key = connection.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)",
            (quote(name),),
        ).fetchall()
        all_columns = tuple(str(row[0]) for row in columns)
        shapes.append(
            TableShape(
                name,
                all_columns,
                tuple(str(row[0]) for row in key) or all_columns,
                frozenset(str(row[0]) for row in columns if row[1]),
            )
        )
    return shapes


def fingerprints(
    connection: psycopg.Connection[Any], tick: Callable[[int, int], None] | None = None
) -> dict[str, TableFingerprint]:
    """Row count and fingerprint of every table, read with server-side cursors (constant
    memory) inside the connection's current transaction."""
    shapes = table_shapes(connection)
    found = {}
    for index, shape in enumerate(shapes):
        with connection.cursor(name=f"pegasus_fingerprint_{index}") as cursor:
            cursor.itersize = 2000
            cursor.execute(select_ordered(shape))
            found[shape.name] = fingerprint_rows(shape, cursor)
        if tick is not None:
            tick(index + 1, len(shapes))
    return found


def alembic_revision(connection: psycopg.Connection[Any]) -> str | None:
    """The revision in ``alembic_version``, None when there is no such table or row."""
    if connection.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def artifact_refs(connection: psycopg.Connection[Any]) -> Iterator[dict[str, Any]]:
    """Every artifact row's key, size and SHA-256 (none when there is no such table)."""
    if connection.execute("SELECT to_regclass('artifacts')").fetchone() == (None,):
        return
    with connection.cursor(name="pegasus_artifacts") as cursor:
        cursor.itersize = 2000
        cursor.execute('SELECT key, size_bytes, sha256 FROM artifacts ORDER BY key COLLATE "C"')
        for key, size, sha256 in cursor:
            yield {"key": key, "size_bytes": int(size), "sha256": sha256 or ""}
