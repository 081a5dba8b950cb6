"""Running Alembic migrations from code (``pegasus db upgrade`` and the test fixtures).

The revisions ship inside the package (``pegasus/migrations``, package data), so an
installed wheel migrates as well as a checkout does."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from pegasus.errors import ConfigError

#: Full-text search objects that revision 0003 creates per database and the models leave out:
#: PostgreSQL's generated ``search_vector`` column and its GIN index, SQLite's FTS5 table
#: ``transcript_segments_fts`` and the shadow tables SQLite makes for it.
UNMAPPED_SEARCH_OBJECTS = frozenset({"search_vector", "ix_transcript_segments_search"})
UNMAPPED_SEARCH_TABLE_PREFIX = "transcript_segments_fts"


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's autogenerate filter: leave out the search objects no model describes, so a
    generated revision never drops them (and the models-match-DDL test compares the rest)."""
    if name is None:
        return True
    return not (name in UNMAPPED_SEARCH_OBJECTS or name.startswith(UNMAPPED_SEARCH_TABLE_PREFIX))


def migrations_dir() -> Path:
    """The Alembic script directory shipped in the package, as a real directory."""
    location = resources.files("pegasus").joinpath("migrations")
    if not isinstance(location, Path) or not location.joinpath("env.py").is_file():
        raise ConfigError(
            f"The database migrations are missing from the installed package ({location}): "
            "reinstall Pegasus from a wheel or a checkout."
        )
    return location


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the package's migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextlib.contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine`` to migrate with: on SQLite, foreign keys are off while it is
    held (``check_foreign_keys`` before the commit finds what they would have refused).

    Alembic's batch mode changes a SQLite table by copying it, dropping the old one and
    renaming the copy; with foreign keys on, dropping a table that others reference fails
    ("database table is locked") or deletes the referencing rows. The pragma is a no-op
    inside a transaction, so it is set before the caller begins one and restored after it
    ends (the connection goes back to the pool as it came)."""
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            yield connection
            return
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def check_foreign_keys(connection: Connection) -> None:
    """Raise when a row's foreign key points nowhere (SQLite; PostgreSQL never lets it)."""
    if connection.dialect.name != "sqlite":
        return
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        found = ", ".join(
            f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in violations
        )
        raise RuntimeError(f"The migration left rows whose foreign keys point nowhere: {found}")


def _run(engine: Engine, run: Callable[[Config], None]) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with migration_connection(engine) as connection, connection.begin():
        config.attributes["connection"] = connection
        run(config)
        check_foreign_keys(connection)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` up to ``revision``."""
    _run(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database behind ``engine`` down to ``revision``."""
    _run(engine, lambda config: command.downgrade(config, revision))
