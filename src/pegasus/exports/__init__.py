"""Exports: a lecture's transcript and study kit as Markdown, JSON, SRT, WebVTT, PDF, an Anki
deck, a Quizlet CSV, and a zip of all of them."""

from __future__ import annotations

from pegasus.exports.formats import EXPORT_FORMATS, ExportFormat, ExportInput, get_format
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

__all__ = ["EXPORT_FORMATS", "ExportFormat", "get_format", "render_export"]


def render_export(
    fmt: str,
    *,
    title: str,
    transcript: Transcript,
    kit: StudyKit | None,
    deck_name: str | None = None,
    lecture_id: str | None = None,
) -> bytes:
    """The export ``fmt`` as bytes (UTF-8 for the text formats); ``NotFoundError`` for an
    unknown format.

    ``deck_name`` names the Anki deck (the course's name, so a course's lectures share one
    deck; default: ``title``). ``lecture_id`` keeps this lecture's Anki notes apart from other
    lectures' in that deck and lets a re-import update them (default: ``title``).
    """
    export_format = get_format(fmt)
    name = " ".join(title.split()) or "Untitled lecture"
    lecture = ExportInput(
        title=title,
        transcript=transcript,
        kit=kit,
        deck_name=" ".join((deck_name or "").split()) or name,
        lecture_id=lecture_id or name,
    )
    return export_format.render(lecture)
