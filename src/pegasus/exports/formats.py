"""The export formats Pegasus writes, with their file extension and media type."""

from __future__ import annotations

from dataclasses import dataclass

from pegasus.errors import NotFoundError, quoted


@dataclass(frozen=True)
class ExportFormat:
    """One downloadable rendering of a lecture."""

    key: str
    extension: str
    content_type: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat(key="md", extension="md", content_type="text/markdown; charset=utf-8"),
        ExportFormat(key="json", extension="json", content_type="application/json"),
        ExportFormat(
            key="srt", extension="srt", content_type="application/x-subrip; charset=utf-8"
        ),
        ExportFormat(key="vtt", extension="vtt", content_type="text/vtt; charset=utf-8"),
        ExportFormat(key="pdf", extension="pdf", content_type="application/pdf"),
        ExportFormat(key="apkg", extension="apkg", content_type="application/apkg"),
        # Quizlet's import: one term,definition row per flashcard.
        ExportFormat(key="csv", extension="csv", content_type="text/csv; charset=utf-8"),
        # Every other format in one download.
        ExportFormat(key="zip", extension="zip", content_type="application/zip"),
    )
}


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
