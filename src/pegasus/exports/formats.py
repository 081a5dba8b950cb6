"""The export formats Pegasus writes: one registry of file type and renderer per format.

The format names are ``pegasus.presets.EXPORT_KEYS`` (presets sit below the exports and
validate against them); this module gives each name its extension, media type, label and
renderer, and refuses to load when a name has none. Adding a format: add its name to
``ExportKey`` and an ``ExportFormat`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pegasus.errors import NotFoundError, quoted
from pegasus.exports.bundle import render_zip, safe_stem
from pegasus.exports.csv_export import render_csv
from pegasus.exports.json_export import render_json
from pegasus.exports.markdown import render_markdown
from pegasus.exports.subtitles import render_srt, render_vtt
from pegasus.presets import EXPORT_KEYS
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript


@dataclass(frozen=True, slots=True)
class ExportInput:
    """What every renderer is given: one lecture's transcript and kit, and its names."""

    title: str
    transcript: Transcript
    kit: StudyKit | None
    #: The Anki deck's name (the course's, so a course's lectures share one deck).
    deck_name: str
    #: Keeps this lecture's Anki notes apart from other lectures' in the deck.
    lecture_id: str


Renderer = Callable[[ExportInput], bytes]


@dataclass(frozen=True)
class ExportFormat:
    """One downloadable rendering of a lecture."""

    key: str
    extension: str
    content_type: str
    #: What a learner reads for it on a preset card.
    label: str
    render: Renderer


def _markdown(x: ExportInput) -> bytes:
    return render_markdown(x.title, x.transcript, x.kit).encode("utf-8")


def _json(x: ExportInput) -> bytes:
    return render_json(x.title, x.transcript, x.kit).encode("utf-8")


def _srt(x: ExportInput) -> bytes:
    return render_srt(x.transcript).encode("utf-8")


def _vtt(x: ExportInput) -> bytes:
    return render_vtt(x.transcript).encode("utf-8")


def _pdf(x: ExportInput) -> bytes:
    from pegasus.exports.pdf import render_pdf  # fpdf2: loaded when a PDF is written

    return render_pdf(x.title, x.transcript, x.kit)


def _apkg(x: ExportInput) -> bytes:
    from pegasus.exports.anki import render_apkg  # genanki: loaded when a deck is written

    return render_apkg(x.kit, deck_name=x.deck_name, note_scope=x.lecture_id)


def _csv(x: ExportInput) -> bytes:
    return render_csv(x.kit).encode("utf-8")


def _zip(x: ExportInput) -> bytes:
    stem = safe_stem(x.title)
    return render_zip(
        {
            f"{stem}.{fmt.extension}": fmt.render(x)
            for fmt in EXPORT_FORMATS.values()
            if fmt.render is not _zip
        }
    )


def build_registry(
    formats: Iterable[ExportFormat], names: Sequence[str] = EXPORT_KEYS
) -> dict[str, ExportFormat]:
    """``formats`` by key, in the order of ``names``; ``RuntimeError`` when a name has no
    format (no renderer) or a format has no name (presets could not ask for it)."""
    by_key = {fmt.key: fmt for fmt in formats}
    missing = [name for name in names if name not in by_key]
    unnamed = [key for key in by_key if key not in names]
    if missing or unnamed:
        raise RuntimeError(
            f"export formats without a renderer: {missing}; renderers without a name in "
            f"pegasus.presets.ExportKey: {unnamed}"
        )
    return {name: by_key[name] for name in names}


EXPORT_FORMATS: dict[str, ExportFormat] = build_registry(
    (
        ExportFormat("md", "md", "text/markdown; charset=utf-8", "text (Markdown)", _markdown),
        ExportFormat("json", "json", "application/json", "data (JSON)", _json),
        ExportFormat("srt", "srt", "application/x-subrip; charset=utf-8", "captions (SRT)", _srt),
        ExportFormat("vtt", "vtt", "text/vtt; charset=utf-8", "captions (VTT)", _vtt),
        ExportFormat("pdf", "pdf", "application/pdf", "PDF", _pdf),
        ExportFormat("apkg", "apkg", "application/apkg", "Anki deck", _apkg),
        # Quizlet's import: one term,definition row per flashcard.
        ExportFormat("csv", "csv", "text/csv; charset=utf-8", "Quizlet cards (CSV)", _csv),
        # Every other format in one download.
        ExportFormat("zip", "zip", "application/zip", "all in one zip", _zip),
    )
)


def get_format(key: str) -> ExportFormat:
    """The export format ``key``; ``NotFoundError`` names the valid keys otherwise."""
    try:
        return EXPORT_FORMATS[key]
    except KeyError:
        valid = ", ".join(EXPORT_FORMATS)
        raise NotFoundError(
            f"There is no export format called {quoted(key)}. Choose one of: {valid}.",
            format=key,
        ) from None
