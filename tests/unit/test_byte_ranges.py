"""Resolving ``Range`` headers against an object size (RFC 9110 section 14)."""

from __future__ import annotations

import pytest

from pegasus.lectures.byte_ranges import ByteRange, RangeNotSatisfiableError, resolve_range
from pegasus.lectures.service import servable_content_type


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=100-199", 1000, (100, 199)),
        ("bytes=900-", 1000, (900, 999)),
        ("bytes=-100", 1000, (900, 999)),
        ("bytes=-5000", 1000, (0, 999)),  # a suffix longer than the object: all of it
        ("bytes=990-5000", 1000, (990, 999)),  # an end past the object is cut
        ("bytes=999-999", 1000, (999, 999)),
        ("Bytes = 0-0 ", 1000, (0, 0)),
    ],
)
def test_single_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    resolved = resolve_range(header, size)
    assert resolved == ByteRange(start=expected[0], end=expected[1], size=size)
    assert resolved.length == expected[1] - expected[0] + 1
    assert resolved.content_range == f"bytes {expected[0]}-{expected[1]}/{size}"


@pytest.mark.parametrize(
    "header",
    [None, "", "items=0-9", "bytes=0-9,20-29", "bytes=9-3", "bytes=abc", "bytes=-", "bytes=1-2-3"],
)
def test_headers_that_mean_the_whole_object(header: str | None) -> None:
    assert resolve_range(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=1000-", 1000), ("bytes=1000-1010", 1000), ("bytes=-0", 1000), ("bytes=0-", 0)],
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        resolve_range(header, size)


def test_a_range_of_thousands_of_digits_is_ignored_not_an_error() -> None:
    assert resolve_range("bytes=" + "9" * 5000 + "-", 100) is None
    assert resolve_range("bytes=-" + "1" * 5000, 100) is None


@pytest.mark.parametrize(
    ("declared", "served"),
    [
        ("audio/mp4", "audio/mp4"),
        (" Audio/WEBM ", "audio/webm"),
        ("audio/€", "application/octet-stream"),
        ("audio/mp4\r\nX-Evil: 1", "application/octet-stream"),
        ("audio/mp4, text/html", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
    ],
)
def test_only_plain_audio_and_video_types_are_served_as_declared(
    declared: str, served: str
) -> None:
    assert servable_content_type(declared) == served
