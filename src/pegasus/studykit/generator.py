"""Make a study kit from a transcript, offline: no network, no model."""

from __future__ import annotations

from pegasus.presets import Preset
from pegasus.studykit.key_terms import extract_key_terms
from pegasus.studykit.schemas import StudyKit
from pegasus.studykit.summary import summarize
from pegasus.studykit.text import timed_sentences
from pegasus.transcription.schemas import Transcript


def generate_kit(transcript: Transcript, preset: Preset) -> StudyKit:
    """The summary and key terms ``preset`` asks for; deterministic, empty parts when the
    transcript is empty or the preset does not want them."""
    sentences = timed_sentences(transcript)
    summary = summarize(sentences, preset.summary_sentences) if preset.wants("summary") else []
    key_terms = (
        extract_key_terms(sentences, preset.key_term_count) if preset.wants("key_terms") else []
    )
    return StudyKit(preset=preset.key, summary=summary, key_terms=key_terms)
