"""Presets: one model, one way to resolve a key (built-in or a course's own)."""

from __future__ import annotations

import dataclasses

import pytest

from pegasus.errors import UnknownPresetError
from pegasus.presets import BUILTIN_PRESETS, OPTION_NAMES, Preset, get_preset

LAB = Preset(
    key="lab-review-1a2b3c4d",
    name="Lab review",
    description="",
    outputs=("transcript", "summary", "flashcards"),
    exports=("md", "srt"),
    flashcard_count=5,
    glossary=("Calvin cycle", "chlorophyll"),
    course_id="course-1",
)


def test_a_built_in_resolves_without_a_course() -> None:
    assert get_preset("exam-prep") is BUILTIN_PRESETS["exam-prep"]


def test_a_courses_own_preset_resolves_when_given() -> None:
    assert get_preset(LAB.key, [LAB]) is LAB
    assert get_preset("quick-review", [LAB]) is BUILTIN_PRESETS["quick-review"]


def test_an_unknown_key_names_the_built_ins_then_the_courses_own() -> None:
    with pytest.raises(UnknownPresetError) as caught:
        get_preset("nope", [LAB])
    valid = caught.value.message.split("Choose one of: ")[1].rstrip(".").split(", ")
    assert valid == [*BUILTIN_PRESETS, LAB.key]
    with pytest.raises(UnknownPresetError) as caught:
        get_preset(LAB.key)  # without the course, its preset is unknown
    assert LAB.key not in caught.value.message.split("Choose one of: ")[1]


def test_an_unknown_key_is_quoted_short() -> None:
    with pytest.raises(UnknownPresetError) as caught:
        get_preset("x" * 5000)
    assert len(caught.value.message) < 400
    assert len(caught.value.context["preset"]) <= 80


@pytest.mark.parametrize("preset", [*BUILTIN_PRESETS.values(), LAB], ids=lambda p: p.key)
def test_options_round_trip_as_json(preset: Preset) -> None:
    identity = {
        f.name: getattr(preset, f.name)
        for f in dataclasses.fields(preset)
        if f.name not in OPTION_NAMES
    }
    assert Preset.from_options(preset.options(), **identity) == preset


def test_options_hold_every_size_and_the_glossary_as_json() -> None:
    assert LAB.options() == {
        "summary_sentences": 5,
        "key_term_count": 12,
        "flashcard_count": 5,
        "quiz_count": 0,
        "glossary": ["Calvin cycle", "chlorophyll"],
        "transcription_mode": None,
    }


def test_missing_options_keep_their_defaults_and_unknown_ones_are_ignored() -> None:
    made = Preset.from_options(
        {"flashcard_count": 3, "mind_map": True},
        key="k",
        name="K",
        description="",
        outputs=("transcript",),
        exports=("md",),
    )
    assert (made.flashcard_count, made.summary_sentences, made.glossary) == (3, 5, ())
