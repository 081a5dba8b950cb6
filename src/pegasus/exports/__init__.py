"""Exports: a lecture's transcript and study kit as Markdown, JSON, SRT, WebVTT, PDF, an Anki
deck, a Quizlet CSV, and a zip of all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pegasus.exports.anki import render_apkg
from pegasus.exports.bundle import render_zip, safe_stem
from pegasus.exports.csv_export import render_csv
from pegasus.exports.formats import EXPORT_FORMATS, ExportFormat, get_format
from pegasus.exports.json_export import render_json
from pegasus.exports.markdown import render_markdown
from pegasus.exports.pdf import render_pdf
from pegasus.exports.subtitles import render_srt, render_vtt
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

__all__ = ["EXPORT_FORMATS", "ExportFormat", "get_format", "render_export"]


@dataclass(frozen=True, slots=True)
class _Lecture:
    title: str
    transcript: Transcript
    kit: StudyKit | None
    deck_name: str
    lecture_id: str


_Renderer = Callable[[_Lecture], bytes]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def _zip(lecture: _Lecture) -> bytes:
    stem = safe_stem(lecture.title)
    return render_zip(
        {
            f"{stem}.{fmt.extension}": _RENDERERS[key](lecture)
            for key, fmt in EXPORT_FORMATS.items()
            if key != "zip"
        }
    )


_RENDERERS: dict[str, _Renderer] = {
    "md": lambda x: _utf8(render_markdown(x.title, x.transcript, x.kit)),
    "json": lambda x: _utf8(render_json(x.title, x.transcript, x.kit)),
    "srt": lambda x: _utf8(render_srt(x.transcript)),
    "vtt": lambda x: _utf8(render_vtt(x.transcript)),
    "pdf": lambda x: render_pdf(x.title, x.transcript, x.kit),
    "apkg": lambda x: render_apkg(x.kit, deck_name=x.deck_name, note_scope=x.lecture_id),
    "csv": lambda x: _utf8(render_csv(x.kit)),
    "zip": _zip,
}


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
    lecture = _Lecture(
        title=title,
        transcript=transcript,
        kit=kit,
        deck_name=" ".join((deck_name or "").split()) or name,
        lecture_id=lecture_id or name,
    )
    return _RENDERERS[export_format.key](lecture)
