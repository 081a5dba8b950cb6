"""Make a study kit from a transcript, offline: no network, no model."""

from __future__ import annotations

from collections.abc import Callable

from pegasus.presets import Preset
from pegasus.studykit.chapters import segment
from pegasus.studykit.definitions import explain_terms
from pegasus.studykit.flashcards import make_flashcards
from pegasus.studykit.key_terms import extract_key_terms
from pegasus.studykit.notes import write_notes
from pegasus.studykit.quiz import make_quiz
from pegasus.studykit.schemas import StudyKit
from pegasus.studykit.spans import SourceText
from pegasus.studykit.summary import summarize
from pegasus.studykit.text import timed_sentences
from pegasus.transcription.schemas import Transcript

#: Terms considered for chapter titles, cards and quiz distractors, even when the preset
#: lists fewer key terms.
TERM_POOL = 30
_TERM_USERS = ("key_terms", "chapters", "notes", "flashcards", "quiz")


def generate_kit(
    transcript: Transcript,
    preset: Preset,
    on_progress: Callable[[float, str], None] | None = None,
) -> StudyKit:
    """Every part ``preset`` asks for; deterministic, empty parts when the transcript is
    empty or the preset does not want them. Every item's source span quotes the transcript.
    It takes about a second, so ``on_progress`` (the generators' common signature) is not
    called."""
    sentences = timed_sentences(transcript)
    summary = summarize(sentences, preset.summary_sentences) if preset.wants("summary") else []
    if not sentences or not any(preset.wants(part) for part in _TERM_USERS):
        return StudyKit(preset=preset.key, summary=summary, key_terms=[])
    source = SourceText(transcript, sentences)
    terms = explain_terms(
        extract_key_terms(sentences, max(preset.key_term_count, TERM_POOL)), sentences, source
    )
    needs_parts = any(preset.wants(part) for part in ("chapters", "notes", "quiz"))
    parts = segment(sentences, transcript.duration_seconds, terms) if needs_parts else []
    return StudyKit(
        preset=preset.key,
        summary=summary,
        key_terms=terms[: preset.key_term_count] if preset.wants("key_terms") else [],
        chapters=[p.chapter() for p in parts] if preset.wants("chapters") else [],
        notes=write_notes(sentences, parts, terms, source) if preset.wants("notes") else [],
        flashcards=(
            make_flashcards(sentences, terms, source, preset.flashcard_count)
            if preset.wants("flashcards")
            else []
        ),
        quiz=(
            make_quiz(sentences, terms, parts, source, preset.quiz_count)
            if preset.wants("quiz")
            else []
        ),
    )
