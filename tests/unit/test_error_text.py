"""What error messages say: user values quoted short, sizes in units people read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from sqlalchemy.orm import Session

from pegasus.accounts.service import create_user
from pegasus.errors import InvalidRequestError, PegasusError, ensure_no_nul, format_size, quoted
from pegasus.exports.formats import get_format
from pegasus.presets import get_preset


def test_a_long_value_is_quoted_to_eighty_characters_with_an_ellipsis() -> None:
    shown = quoted("x" * 10_000)

    assert shown == "'" + "x" * 80 + "'…"
    assert quoted("fast") == "'fast'"
    assert quoted("y" * 80) == "'" + "y" * 80 + "'"


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KiB"),
        (300_000, "292.97 KiB"),
        (8 * 1024 * 1024, "8 MiB"),
        (int(1.5 * 1024**3), "1.5 GiB"),
    ],
)
def test_sizes_use_the_largest_fitting_binary_unit(size: int, shown: str) -> None:
    assert format_size(size) == shown


def test_nul_characters_are_refused_by_field_name() -> None:
    ensure_no_nul(title="Week 1", preset=None, file_name="")

    with pytest.raises(InvalidRequestError, match="file name holds a NUL"):
        ensure_no_nul(title="ok", file_name="a\x00.wav")


class FakeSession:
    """Never reached: an invalid email is refused before the database is asked."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the session was used ({name})")


@pytest.mark.parametrize(
    "lookup",
    [
        get_preset,
        get_format,
        lambda value: create_user(cast(Session, FakeSession()), value, "x" * 12),
    ],
    ids=["preset", "export format", "email"],
)
def test_lookups_quote_an_unknown_name_short(lookup: Callable[[str], object]) -> None:
    with pytest.raises(PegasusError) as raised:
        lookup("z" * 10_000)

    assert "z" * 80 + "'…" in raised.value.message
    assert len(raised.value.message) < 300
