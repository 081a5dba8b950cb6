"""Request field rules: visible text, strict counts, enumerations."""

from __future__ import annotations

import re
import sys

import pytest
from pydantic import BaseModel, ValidationError

from pegasus.courses.schemas import CourseCreate, PresetCreate
from pegasus.presets import EXPORT_KEYS, KIT_OUTPUTS
from pegasus.schemas_types import (
    LAST_INVISIBLE_CODE_POINT,
    VISIBLE_PATTERN,
    VisibleStr,
    invisible_code_points,
)


class Named(BaseModel):
    name: VisibleStr


@pytest.mark.parametrize("text", ["", " ", "\t\n", "\x00", " \x1f\x7f ", "\u00a0\u3000", "\x85"])
def test_only_whitespace_or_control_characters_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="at least one visible character"):
        Named(name=text)


@pytest.mark.parametrize("text", ["a", "  Biology 101 ", "\u00e9", "\u200b", "\U0001f600"])
def test_text_with_a_visible_character_is_kept_as_sent(text: str) -> None:
    assert Named(name=text).name == text


@pytest.mark.parametrize("text", [" ", "\t", "\x00\x01", "\u2028", "ok", "\u200b", "x\x00"])
def test_pattern_in_the_schema_agrees_with_the_validator(text: str) -> None:
    accepted = True
    try:
        Named(name=text)
    except ValidationError:
        accepted = False
    assert accepted == bool(re.search(VISIBLE_PATTERN, text))
    assert Named.model_json_schema()["properties"]["name"]["pattern"] == VISIBLE_PATTERN


def test_course_name_must_be_visible() -> None:
    with pytest.raises(ValidationError):
        CourseCreate(name="   ")
    assert CourseCreate(name="Bio").name == "Bio"


@pytest.mark.parametrize(
    "field", ["summary_sentences", "key_term_count", "flashcard_count", "quiz_count"]
)
def test_preset_counts_refuse_booleans_and_strings(field: str) -> None:
    for wrong in (False, True, "5", None, [1]):
        with pytest.raises(ValidationError, match="whole number"):
            PresetCreate.model_validate({"name": "Lab", "outputs": ["summary"], field: wrong})
    with pytest.raises(ValidationError):
        PresetCreate.model_validate({"name": "Lab", "outputs": ["summary"], field: 2.5})
    for right in (3, 3.0):  # both are integers in JSON Schema
        made = PresetCreate.model_validate({"name": "Lab", "outputs": ["summary"], field: right})
        assert getattr(made, field) == 3
        assert type(getattr(made, field)) is int


def test_preset_outputs_and_exports_are_enumerations() -> None:
    schema = PresetCreate.model_json_schema()
    assert schema["properties"]["outputs"]["items"]["enum"] == list(KIT_OUTPUTS)
    assert schema["properties"]["exports"]["items"]["enum"] == list(EXPORT_KEYS)
    # Other values reach the service, which refuses them naming the value (422).
    made = PresetCreate.model_validate({"name": "Lab", "outputs": ["essay"], "exports": ["x"]})
    assert (made.outputs, made.exports) == (["essay"], ["x"])


def test_no_invisible_character_lies_beyond_the_scanned_range() -> None:
    # VISIBLE_PATTERN scans only up to LAST_INVISIBLE_CODE_POINT; every later code point
    # must be visible, or the pattern would accept text made only of it.
    assert invisible_code_points(sys.maxunicode) == invisible_code_points()
    assert max(invisible_code_points()) == LAST_INVISIBLE_CODE_POINT
