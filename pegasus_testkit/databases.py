"""Fresh, migrated databases for every test, cloned from a template migrated once per process.

A template is what `pegasus db upgrade` makes of an empty database (every migration applied,
the built-in presets synced), made once per process by running that very command:

- PostgreSQL: a database ``pegasus_template_<host>_<pid>_<hex>``, closed to connections once
  migrated; a clone is ``CREATE DATABASE pegasus_test_<host>_<pid>_<hex> TEMPLATE <template>``,
  which copies files instead of replaying the migrations.
- SQLite: a migrated file in a temporary directory; a clone is an online backup of it
  (``sqlite3.Connection.backup``) into the test's own file.

``TEMPLATES`` is the process's one set of templates: ``TEMPLATES.sqlite(path)`` and
``TEMPLATES.postgresql()`` return the URL of a new database, ``TEMPLATES.drop(url)`` removes a
PostgreSQL clone, ``TEMPLATES.close()`` removes the templates (also at interpreter exit).
Databases named ``pegasus_template_<host>_<pid>_*`` or ``pegasus_test_<host>_<pid>_*`` whose
process on this host is gone (a run killed before its teardown) are dropped when the next
PostgreSQL template is made.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from pegasus_testkit.cli import run_cli

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL_PREFIX = "postgresql+psycopg://postgres@127.0.0.1:5432/"
BACKENDS = ("sqlite", "postgresql")

#: Names carry this machine's mark and the process id, so only this machine's dead processes'
#: databases are taken for orphans (a PostgreSQL server may serve several containers).
_HOST = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:6]
_OWNED_NAME = re.compile(rf"^pegasus_(?:template|test)_{_HOST}_(\d+)_[0-9a-f]+$")


def postgres_url(name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the local PostgreSQL server."""
    return f"{POSTGRES_URL_PREFIX}{name}"


def database_name(kind: str) -> str:
    """A new database name: ``pegasus_<kind>_<host>_<pid>_<random hex>``."""
    return f"pegasus_{kind}_{_HOST}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def create_postgres_database(template: str | None = None) -> str:
    """A new PostgreSQL database (empty, or a copy of ``template``); returns its name."""
    name = database_name("test")
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{clause}')
    return name


def drop_postgres_database(name: str) -> None:
    """Drop database ``name``, closing whatever is still connected to it."""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_orphaned_postgres_databases() -> list[str]:
    """Drop the templates and clones left by processes that no longer run; return their names."""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        names = [
            row[0]
            for row in admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'pegasus\\_%'"
            ).fetchall()
        ]
    orphaned = []
    for name in names:
        match = _OWNED_NAME.match(name)
        if match and not _process_alive(int(match.group(1))):
            drop_postgres_database(name)
            orphaned.append(name)
    return orphaned


def migrate_with_cli(database_url: str, workdir: Path) -> None:
    """Bring the database at ``database_url`` to the newest schema with `pegasus db upgrade`."""
    env = {
        "PEGASUS_DATABASE_URL": database_url,
        "PEGASUS_STORAGE_ROOT": str(workdir / "objects"),
        "PEGASUS_QUEUE_URL": f"sqlite:///{workdir / 'queue.db'}",
        "PEGASUS_LOG_LEVEL": "WARNING",
    }
    run_cli(env, "db", "upgrade", cwd=workdir)


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of SQLite database ``source`` (WAL included) at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


class DatabaseTemplates:
    """Migrated template databases, made on first use and cloned for each test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workdir: Path | None = None
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._clones: set[str] = set()

    def _dir(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="pegasus-templates-"))
        return self._workdir

    def sqlite_template(self) -> Path:
        """The migrated SQLite template file (made on first call)."""
        with self._lock:
            if self._sqlite is None:
                path = self._dir() / "template.db"
                migrate_with_cli(f"sqlite:///{path}", self._dir())
                self._sqlite = path
            return self._sqlite

    def postgres_template(self) -> str:
        """The name of the migrated PostgreSQL template (made on first call)."""
        with self._lock:
            if self._postgres is None:
                drop_orphaned_postgres_databases()
                name = database_name("template")
                with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    migrate_with_cli(postgres_url(name), self._dir())
                    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                        # Nobody may connect to it by mistake: a connection would block cloning.
                        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                except BaseException:
                    drop_postgres_database(name)
                    raise
                self._postgres = name
            return self._postgres

    def sqlite(self, target: Path) -> str:
        """The URL of a new migrated SQLite database in file ``target``."""
        copy_sqlite(self.sqlite_template(), target)
        return f"sqlite:///{target}"

    def postgresql(self) -> str:
        """The URL of a new migrated PostgreSQL database; ``drop(url)`` removes it."""
        name = create_postgres_database(template=self.postgres_template())
        self._clones.add(name)
        return postgres_url(name)

    def new(self, backend: str, directory: Path) -> str:
        """The URL of a new migrated database of ``backend`` ("sqlite" or "postgresql");
        a SQLite file goes into ``directory``."""
        if backend == "sqlite":
            return self.sqlite(directory / f"pegasus-{uuid.uuid4().hex[:8]}.db")
        if backend == "postgresql":
            return self.postgresql()
        raise ValueError(f"unknown database backend {backend!r}")

    def drop(self, url: str) -> None:
        """Remove a database made here: a PostgreSQL clone is dropped, a SQLite file deleted."""
        if url.startswith(POSTGRES_URL_PREFIX):
            name = url.removeprefix(POSTGRES_URL_PREFIX)
            drop_postgres_database(name)
            self._clones.discard(name)
        elif url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)

    @contextlib.contextmanager
    def fresh(self, backend: str, directory: Path) -> Iterator[str]:
        """A new migrated database of ``backend`` for the ``with`` block, removed afterwards."""
        url = self.new(backend, directory)
        try:
            yield url
        finally:
            self.drop(url)

    def close(self) -> None:
        """Drop the PostgreSQL template and any clone not dropped yet; delete the SQLite one."""
        with self._lock:
            for name in sorted(self._clones):
                drop_postgres_database(name)
            self._clones.clear()
            if self._postgres is not None:
                drop_postgres_database(self._postgres)
                self._postgres = None
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
                self._sqlite = None


#: The process's templates; the test session closes them, and so does interpreter exit.
TEMPLATES = DatabaseTemplates()


def _close_at_exit() -> None:
    with contextlib.suppress(psycopg.Error):
        TEMPLATES.close()


atexit.register(_close_at_exit)
