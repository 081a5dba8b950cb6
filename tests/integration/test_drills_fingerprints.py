"""The drills' table fingerprints see every change a migration or a restore could make: a
changed value, a lost row, a dropped column or table holding data."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from pegasus.config import DatabaseSettings
from pegasus.db.session import build_engine
from pegasus.drills.fingerprints import compare, snapshot

BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]


def _engine(url: str) -> Engine:
    return build_engine(DatabaseSettings(url=SecretStr(url)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_compare_names_each_kind_of_change(
    backend: str, new_database: Callable[[str], str]
) -> None:
    engine = _engine(new_database(backend))
    try:
        first = snapshot(engine)
        assert "alembic_version" not in first.tables
        assert first.tables["presets"].rows >= 4  # the built-ins synced by `db upgrade`
        assert not any(name.startswith("transcript_segments_fts") for name in first.tables)
        same = compare(first, snapshot(engine))
        assert same.unchanged
        assert same.rows_lost == 0
        assert same.compared_rows == first.total_rows

        with engine.begin() as connection:
            connection.execute(text("UPDATE presets SET name = 'Renamed' WHERE key = 'exam-prep'"))
        changed = compare(first, snapshot(engine))
        assert changed.changed == {"presets": ["column name"]}

        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE drill_notes (id INTEGER PRIMARY KEY, note TEXT)"))
            connection.execute(text("INSERT INTO drill_notes VALUES (1, 'a'), (2, NULL)"))
        second = snapshot(engine)
        assert second.tables["drill_notes"].filled == {"id": 2, "note": 1}
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM presets WHERE key = 'captions-only'"))
            connection.execute(text("ALTER TABLE presets DROP COLUMN description"))
            connection.execute(text("DROP TABLE drill_notes"))
        rows = first.tables["presets"].rows
        after = compare(second, snapshot(engine))
        assert after.changed["presets"][0] == f"rows {rows} -> {rows - 1}"
        assert after.dropped_columns == {"presets.description": rows}
        assert after.dropped_tables == {"drill_notes": 2}
        assert after.rows_lost == rows + 2
        assert "columns dropped" in after.describe()
        assert "tables dropped (rows they held): {'drill_notes': 2}" in after.describe()
    finally:
        engine.dispose()
