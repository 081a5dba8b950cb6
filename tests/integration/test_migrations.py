"""Alembic migrations on SQLite and PostgreSQL: up, down, up again, and no drift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy import Engine, inspect

from pegasus.config import DatabaseSettings
from pegasus.db.base import Base
from pegasus.db.migrate import downgrade, upgrade
from pegasus.db.session import build_engine
from pegasus_testkit.databases import create_postgres_database, drop_postgres_database

TABLES = {
    "users",
    "api_tokens",
    "courses",
    "presets",
    "lectures",
    "stage_runs",
    "artifacts",
    "workers",
    "incidents",
    "transcript_segments",
}
#: Full-text search objects the migration creates per database and the models leave out.
SEARCH_OBJECTS = {"search_vector", "ix_transcript_segments_search"}


def _mapped(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if name is None:
        return True
    return not (name in SEARCH_OBJECTS or name.startswith("transcript_segments_fts"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        database = None
    else:
        database = create_postgres_database()
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    built = build_engine(DatabaseSettings(url=SecretStr(url)))
    yield built
    built.dispose()
    if database:
        drop_postgres_database(database)


def test_upgrade_downgrade_upgrade(engine: Engine) -> None:
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_models_match_migrations(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_object": _mapped}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
