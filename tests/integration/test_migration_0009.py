"""Migration 0009 (``courses.transcription_mode``) on SQLite and PostgreSQL: the column is
added, kept with its values on downgrade (``KEEPS_SCHEMA_ON_DOWNGRADE``: a course owner's
choice survives a rollback), and the upgrade runs again after that downgrade."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy import Engine

from pegasus.config import DatabaseSettings
from pegasus.db.migrate import downgrade, upgrade
from pegasus.db.session import build_engine
from pegasus_testkit.databases import (
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    database = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        database = create_postgres_database()
        url = postgres_url(database)
    built = build_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        yield built
    finally:
        built.dispose()
        if database:
            drop_postgres_database(database)


def _columns(engine: Engine) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns("courses")}


def _modes(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, transcription_mode FROM courses"))
        return {row.id: row.transcription_mode for row in rows}


def test_the_mode_survives_a_downgrade_and_the_upgrade_runs_again(engine: Engine) -> None:
    upgrade(engine, "0008")
    assert "transcription_mode" not in _columns(engine)
    upgrade(engine, "0009")
    assert "transcription_mode" in _columns(engine)
    user, fast, unset = (str(uuid.uuid4()) for _ in range(3))
    now = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO users (id, email, password_hash, is_admin, created_at) "
                "VALUES (:id, 'm@example.org', 'x', false, :now)"
            ),
            {"id": user, "now": now},
        )
        for course, mode in ((fast, "fast"), (unset, None)):
            connection.execute(
                sa.text(
                    "INSERT INTO courses (id, owner_id, name, transcription_mode, created_at) "
                    "VALUES (:id, :owner, 'Bio', :mode, :now)"
                ),
                {"id": course, "owner": user, "mode": mode, "now": now},
            )

    downgrade(engine, "0008")
    assert _modes(engine) == {fast: "fast", unset: None}  # the column and its values stay

    upgrade(engine, "0009")  # idempotent: the column is there already
    assert _modes(engine) == {fast: "fast", unset: None}
