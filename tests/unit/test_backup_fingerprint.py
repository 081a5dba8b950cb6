"""Table fingerprints: one canonical rendering of a row, whatever the driver's session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pegasus.backup.fingerprint import TableShape, canonical, fingerprint_rows, select_ordered

SHAPE = TableShape("lectures", ("id", "title", "finished_at"), ("id",), frozenset({"id"}))


def _print(rows: list[tuple[Any, ...]], shape: TableShape = SHAPE) -> str:
    return fingerprint_rows(shape, rows).fingerprint


def test_the_same_instant_in_two_time_zones_renders_the_same() -> None:
    utc = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert canonical(paris) == canonical(utc) == "2026-12-07T09:30:00+00:00"
    assert _print([("a", "t", paris)]) == _print([("a", "t", utc)])


def test_values_keep_their_type_and_every_byte() -> None:
    assert canonical(b"\x00\xff") == {"base64": "AP8="}
    assert canonical(Decimal("1.50")) == "1.50"
    assert canonical({"b": [1, (2, 3)]}) == {"b": [1, [2, 3]]}
    assert canonical(float("nan")) == {"float": "nan"}
    assert _print([("a", "1", None)]) != _print([("a", 1, None)])
    assert _print([("a", "", None)]) != _print([("a", None, None)])


def test_a_fingerprint_changes_with_any_row_its_order_or_the_columns() -> None:
    rows = [("a", "Cells", None), ("b", "Genes", None)]
    result = fingerprint_rows(SHAPE, rows)
    assert result.rows == 2
    assert result.fingerprint.startswith("sha256:")
    assert _print(rows) == _print(list(rows))
    assert _print([("a", "Cells", None), ("b", "Genes!", None)]) != result.fingerprint
    assert _print(list(reversed(rows))) != result.fingerprint
    assert _print(rows[:1]) != result.fingerprint
    renamed = SHAPE._replace(columns=("id", "name", "finished_at"))
    assert _print(rows, renamed) != result.fingerprint


def test_rows_are_selected_in_key_order_with_bytewise_text_order() -> None:
    assert select_ordered(SHAPE) == (
        'SELECT "id", "title", "finished_at" FROM "lectures" ORDER BY "id" COLLATE "C"'
    )
    odd = TableShape('we"ird', ("a",), ("a",), frozenset())
    assert select_ordered(odd) == 'SELECT "a" FROM "we""ird" ORDER BY "a"'
