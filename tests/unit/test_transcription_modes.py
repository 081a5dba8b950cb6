"""Transcription modes without I/O: the settings, the precedence rule (preset, then course,
then server), the preset cards' mode and time, and old transcripts without a recognizer."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from pegasus.config import ENV_PREFIX, Settings, TranscriptionSettings
from pegasus.presets import BUILTIN_PRESETS, chosen_transcription_mode
from pegasus.transcription.schemas import Recognizer, Transcript
from pegasus.web.estimates import (
    TRANSCRIBE_MINUTES_PER_HOUR,
    processing_seconds,
    processing_sentence,
)
from pegasus.web.preset_cards import preset_card

QUICK = BUILTIN_PRESETS["quick-review"]


def test_the_default_is_accurate_with_the_bundled_model() -> None:
    settings = TranscriptionSettings()
    assert (settings.mode, settings.model) == ("accurate", "tiny.en")
    assert settings.data_dir == Path("var/models")
    assert "model_path" not in TranscriptionSettings.model_fields


def test_mode_and_model_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PEGASUS_TRANSCRIPTION_MODE", "fast")
    monkeypatch.setenv("PEGASUS_TRANSCRIPTION_MODEL", "base")
    monkeypatch.setenv("PEGASUS_TRANSCRIPTION_DATA_DIR", "/srv/pegasus/models")

    speech = Settings().transcription

    assert (speech.mode, speech.model) == ("fast", "base")
    assert speech.data_dir == Path("/srv/pegasus/models")


@pytest.mark.parametrize("values", [{"mode": "turbo"}, {"mode": "FAST"}, {"model": ""}])
def test_a_bad_mode_or_an_empty_model_is_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        TranscriptionSettings.model_validate(values)


@pytest.mark.parametrize(
    ("preset_mode", "course_mode", "chosen"),
    [
        (None, None, None),  # the server's setting
        (None, "fast", "fast"),
        (None, "accurate", "accurate"),
        ("accurate", "fast", "accurate"),  # the preset's own mode comes first
        ("fast", None, "fast"),
        ("fast", "accurate", "fast"),
    ],
)
def test_the_preset_comes_first_then_the_course(
    preset_mode: str | None, course_mode: str | None, chosen: str | None
) -> None:
    preset = dataclasses.replace(QUICK, transcription_mode=preset_mode)  # type: ignore[arg-type]

    assert chosen_transcription_mode(preset, course_mode) == chosen  # type: ignore[arg-type]


def test_the_built_ins_leave_the_mode_to_the_course_and_server() -> None:
    """The server's default is accurate (docs/quality.md); a built-in naming a mode would
    overrule the course's choice."""
    assert all(p.transcription_mode is None for p in BUILTIN_PRESETS.values())
    assert TranscriptionSettings().mode == "accurate"


def test_every_offered_model_and_mode_has_a_measured_time() -> None:
    for model in ("tiny.en", "base"):
        fast = TRANSCRIBE_MINUTES_PER_HOUR[(model, "fast")]
        accurate = TRANSCRIBE_MINUTES_PER_HOUR[(model, "accurate")]
        assert 0 < fast < accurate < 60
    assert (
        TRANSCRIBE_MINUTES_PER_HOUR[("tiny.en", "accurate")]
        < (TRANSCRIBE_MINUTES_PER_HOUR[("base", "accurate")])
    )


def test_a_card_shows_its_mode_and_the_time_for_an_hour() -> None:
    fast = preset_card(QUICK, model="tiny.en", mode="fast")
    accurate = preset_card(QUICK, model="tiny.en", mode="accurate")

    assert (fast.mode_label, accurate.mode_label) == (
        "Fast transcription",
        "Accurate transcription",
    )
    minutes = TRANSCRIBE_MINUTES_PER_HOUR[("tiny.en", "accurate")]
    seconds = processing_seconds(QUICK, model="tiny.en", mode="accurate")
    assert seconds is not None
    assert minutes * 60 < seconds < minutes * 60 + 60  # transcription plus the kit's allowance
    assert accurate.duration == processing_sentence(QUICK, model="tiny.en", mode="accurate")
    assert accurate.duration.startswith("About ")
    assert accurate.duration.endswith(" minutes for a 1-hour lecture.")
    assert fast.duration != accurate.duration


def test_a_model_directory_has_no_estimate() -> None:
    card = preset_card(QUICK, model="/srv/models/large-v3", mode="accurate")

    assert card.duration == "Processing time depends on this server's speech model."


def test_a_transcript_stored_before_recognizers_were_recorded_still_loads() -> None:
    old = Transcript.model_validate_json(
        '{"language": "en", "duration_seconds": 3, "segments": []}'
    )
    assert old.recognizer is None
    new = old.model_copy(
        update={
            "recognizer": Recognizer(model="tiny.en", mode="fast", beam_size=5, compute_type="int8")
        }
    )
    assert Transcript.model_validate_json(new.model_dump_json()) == new
