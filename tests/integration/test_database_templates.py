"""Every test's database is its own: a fresh clone of a template migrated once per session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text

from pegasus.accounts.service import create_user
from pegasus.config import DatabaseSettings
from pegasus.db.migrate import alembic_config
from pegasus.db.models import Preset as PresetRow
from pegasus.db.models import User
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.presets import BUILTIN_PRESETS
from pegasus_testkit.databases import (
    POSTGRES_ADMIN_URL,
    POSTGRES_URL_PREFIX,
    TEMPLATES,
    database_name,
    drop_orphaned_postgres_databases,
    drop_postgres_database,
)

BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _state(url: str) -> tuple[str | None, list[str], int]:
    """(schema revision, user emails, number of preset rows) of the database at ``url``."""
    engine = build_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            emails = list(connection.execute(select(User.email).order_by(User.email)).scalars())
            presets = connection.execute(select(func.count()).select_from(PresetRow)).scalar_one()
        return revision, emails, presets
    finally:
        engine.dispose()


def _add_user(url: str, email: str) -> None:
    engine = build_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        with unit_of_work(build_session_factory(engine)) as session:
            create_user(session, email, "a long enough password")
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_database_is_a_fresh_migrated_clone(
    backend: str, new_database: Callable[[str], str]
) -> None:
    first = new_database(backend)
    second = new_database(backend)
    assert first != second
    _add_user(first, "only-here@example.org")
    assert _state(first) == (_head(), ["only-here@example.org"], len(BUILTIN_PRESETS))
    # What one test writes never reaches another test's database (or the template).
    assert _state(second) == (_head(), [], len(BUILTIN_PRESETS))
    assert _state(new_database(backend)) == (_head(), [], len(BUILTIN_PRESETS))


def _postgres_databases() -> set[str]:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        return {row[0] for row in admin.execute("SELECT datname FROM pg_database").fetchall()}


@pytest.mark.postgres
def test_a_postgres_clone_is_dropped_afterwards_and_the_template_refuses_connections(
    tmp_path: Path,
) -> None:
    with TEMPLATES.fresh("postgresql", tmp_path) as url:
        name = url.removeprefix(POSTGRES_URL_PREFIX)
        assert name in _postgres_databases()
    assert name not in _postgres_databases()
    template = TEMPLATES.postgres_template()
    with pytest.raises(psycopg.OperationalError, match="not currently accepting connections"):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{template}").close()


def test_a_sqlite_clone_is_a_file_of_the_tests_own(tmp_path: Path) -> None:
    with TEMPLATES.fresh("sqlite", tmp_path) as url:
        path = Path(url.removeprefix("sqlite:///"))
        assert path.parent == tmp_path
        assert path != TEMPLATES.sqlite_template()
        _add_user(url, "mine@example.org")
        assert _state(f"sqlite:///{TEMPLATES.sqlite_template()}")[1] == []
    assert not path.exists()


@pytest.mark.postgres
def test_databases_left_by_a_dead_run_are_dropped_and_a_live_ones_kept() -> None:
    dead_pid = subprocess.Popen(["true"])  # its pid is free once it has exited
    dead_pid.wait()
    mine = database_name("test")
    dead = mine.replace(f"_{os.getpid()}_", f"_{dead_pid.pid}_")
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        for name in (mine, dead):
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        assert dead in drop_orphaned_postgres_databases()
        present = _postgres_databases()
        assert dead not in present
        assert mine in present
    finally:
        drop_postgres_database(mine)
        drop_postgres_database(dead)
