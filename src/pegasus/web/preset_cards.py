"""A preset in plain words, for the learner's preset cards: what it makes and how long."""

from __future__ import annotations

from dataclasses import dataclass

from pegasus.config import TranscriptionMode
from pegasus.exports.formats import EXPORT_FORMATS
from pegasus.presets import Preset
from pegasus.web.estimates import MODE_HINTS, MODE_LABELS, processing_sentence


@dataclass(frozen=True)
class PresetCard:
    key: str
    name: str
    description: str
    makes: list[str]
    downloads: list[str]
    duration: str
    own: bool
    mode: TranscriptionMode
    mode_label: str
    mode_hint: str


def _parts(preset: Preset) -> list[str]:
    parts = ["the full transcript"]
    if preset.wants("summary") and preset.summary_sentences:
        parts.append(f"a {preset.summary_sentences}-sentence summary")
    if preset.wants("chapters"):
        parts.append("chapters you can jump to")
    if preset.wants("notes"):
        parts.append("notes in outline form")
    if preset.wants("key_terms") and preset.key_term_count:
        parts.append(f"up to {preset.key_term_count} key terms with definitions")
    if preset.wants("flashcards") and preset.flashcard_count:
        parts.append(f"up to {preset.flashcard_count} flashcards")
    if preset.wants("quiz") and preset.quiz_count:
        parts.append(f"a quiz of up to {preset.quiz_count} questions")
    return parts


def preset_card(
    preset: Preset, *, model: str, mode: TranscriptionMode, external_generator: bool = False
) -> PresetCard:
    """The card of ``preset`` whose lectures are transcribed by ``model`` in ``mode`` (the
    mode ``chosen_transcription_mode`` gives, else the server's)."""
    return PresetCard(
        key=preset.key,
        name=preset.name,
        description=preset.description,
        makes=_parts(preset),
        downloads=[EXPORT_FORMATS[e].label for e in preset.exports if e in EXPORT_FORMATS],
        duration=processing_sentence(
            preset, model=model, mode=mode, external_generator=external_generator
        ),
        own=preset.course_id is not None,
        mode=mode,
        mode_label=MODE_LABELS[mode],
        mode_hint=MODE_HINTS[mode],
    )
