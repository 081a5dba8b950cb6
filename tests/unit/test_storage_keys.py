"""Object key validation and builders."""

from __future__ import annotations

import pytest

from pegasus.errors import InvalidRequestError
from pegasus.storage.keys import (
    course_prefix,
    lecture_key,
    lecture_prefix,
    validate_key,
    validate_prefix,
)


@pytest.mark.parametrize(
    "key",
    [
        "source",
        "courses/c1/lectures/l1/source",
        "courses/c1/lectures/l1/exports/kit.zip",
        ".hidden/file",
        "a..b/c...d",
        "unicodé/名前",
    ],
)
def test_validate_key_returns_valid_keys_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/absolute",
        "../escape",
        "courses/../../etc/passwd",
        "courses/..",
        "./here",
        "courses/./x",
        "courses//x",
        "trailing/",
        "back\\slash",
        "nul\x00byte",
    ],
)
def test_validate_key_refuses_unsafe_keys(key: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_key(key)
    assert caught.value.context["key"] == key


@pytest.mark.parametrize("prefix", ["", "courses/", "courses/c1/lectures/l1/", "courses/c1/lec"])
def test_validate_prefix_accepts_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/courses/", "../", "courses/../", "a//", "a\\b/"])
def test_validate_prefix_refuses_unsafe_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidRequestError):
        validate_prefix(prefix)


def test_builders_nest_course_lecture_and_name() -> None:
    assert course_prefix("c1") == "courses/c1/"
    assert lecture_prefix("c1", "l1") == "courses/c1/lectures/l1/"
    assert lecture_key("c1", "l1", "source") == "courses/c1/lectures/l1/source"
    assert lecture_key("c1", "l1", "exports/kit.zip") == "courses/c1/lectures/l1/exports/kit.zip"


def test_lecture_prefix_is_not_a_prefix_of_a_longer_lecture_id() -> None:
    assert not lecture_key("c1", "10", "source").startswith(lecture_prefix("c1", "1"))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "a\x00"])
def test_builders_refuse_unsafe_ids(bad: str) -> None:
    with pytest.raises(InvalidRequestError):
        course_prefix(bad)
    with pytest.raises(InvalidRequestError):
        lecture_prefix("c1", bad)


@pytest.mark.parametrize("name", ["", "../other/source", "/source", "a//b", "x/"])
def test_lecture_key_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(InvalidRequestError):
        lecture_key("c1", "l1", name)
