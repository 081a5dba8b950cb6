"""pytest-alembic's fixtures: the package's migrations on a fresh, empty SQLite or PostgreSQL
database (not the migrated template: these tests run the migrations themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from pytest_alembic.config import Config
from pytest_alembic.runner import MigrationContext, runner
from sqlalchemy import Connection

from pegasus.config import DatabaseSettings
from pegasus.db.migrate import alembic_config as pegasus_alembic_config
from pegasus.db.migrate import migration_connection
from pegasus.db.session import build_engine
from pegasus_testkit.databases import (
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database (no migration applied) of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = create_postgres_database()
    try:
        yield postgres_url(name)
    finally:
        drop_postgres_database(name)


@pytest.fixture
def alembic_engine(database_url: str) -> Iterator[Connection]:
    """The application's engine, connected the way ``pegasus db upgrade`` migrates."""
    engine = build_engine(DatabaseSettings(url=SecretStr(database_url)))
    try:
        with migration_connection(engine) as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture
def alembic_config(database_url: str) -> Config:
    return Config(alembic_config=pegasus_alembic_config(database_url))


@pytest.fixture
def alembic_runner(
    alembic_config: Config, alembic_engine: Connection
) -> Iterator[MigrationContext]:
    """pytest-alembic's runner (its plugin is off, see pyproject.toml, so it is made here)."""
    with runner(config=alembic_config, engine=alembic_engine) as context:
        yield context
