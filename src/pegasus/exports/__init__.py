"""Exports: a lecture's transcript and study kit as Markdown, JSON, SRT and WebVTT."""

from __future__ import annotations

from collections.abc import Callable

from pegasus.exports.formats import EXPORT_FORMATS, ExportFormat, get_format
from pegasus.exports.json_export import render_json
from pegasus.exports.markdown import render_markdown
from pegasus.exports.subtitles import render_srt, render_vtt
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

__all__ = ["EXPORT_FORMATS", "ExportFormat", "get_format", "render_export"]

_Renderer = Callable[[str, Transcript, StudyKit | None], str]

_RENDERERS: dict[str, _Renderer] = {
    "md": render_markdown,
    "json": render_json,
    "srt": lambda title, transcript, kit: render_srt(transcript),
    "vtt": lambda title, transcript, kit: render_vtt(transcript),
}


def render_export(fmt: str, *, title: str, transcript: Transcript, kit: StudyKit | None) -> bytes:
    """The export ``fmt`` as UTF-8 bytes; ``NotFoundError`` for an unknown format."""
    export_format = get_format(fmt)
    return _RENDERERS[export_format.key](title, transcript, kit).encode("utf-8")
