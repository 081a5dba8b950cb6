"""Built-in presets: what a learner asks Pegasus to make from a lecture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pegasus.errors import UnknownPresetError, quoted

#: A study-kit part a preset may ask for. ``transcript`` is always produced.
KitOutput = Literal["transcript", "summary", "key_terms", "chapters", "notes", "flashcards", "quiz"]
#: An export format a preset may ask for (the keys of ``pegasus.exports.formats``).
ExportKey = Literal["md", "json", "srt", "vtt", "pdf", "apkg", "csv", "zip"]

KIT_OUTPUTS: tuple[KitOutput, ...] = get_args(KitOutput)
EXPORT_FORMATS: tuple[ExportKey, ...] = get_args(ExportKey)
ALL_EXPORTS = EXPORT_FORMATS


@dataclass(frozen=True)
class Preset:
    """A named recipe: which kit parts and exports to make, and how big."""

    key: str
    name: str
    description: str
    outputs: tuple[str, ...]
    exports: tuple[str, ...]
    summary_sentences: int = 5
    key_term_count: int = 12
    flashcard_count: int = 0
    quiz_count: int = 0
    #: Course vocabulary: passed to speech recognition as hotwords.
    glossary: tuple[str, ...] = ()
    course_id: str | None = None  # set for a course's own presets

    def wants(self, output: str) -> bool:
        return output in self.outputs


BUILTIN_PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            key="quick-review",
            name="Quick review",
            description="A short summary, the key terms and a few flashcards: a ten-minute "
            "refresher.",
            outputs=("transcript", "summary", "key_terms", "chapters", "flashcards"),
            exports=ALL_EXPORTS,
            summary_sentences=3,
            key_term_count=8,
            flashcard_count=8,
        ),
        Preset(
            key="exam-prep",
            name="Exam prep",
            description="Key terms, many flashcards and a quiz to test yourself.",
            outputs=("transcript", "summary", "key_terms", "chapters", "flashcards", "quiz"),
            exports=ALL_EXPORTS,
            summary_sentences=6,
            key_term_count=20,
            flashcard_count=24,
            quiz_count=10,
        ),
        Preset(
            key="full-notes",
            name="Full notes",
            description="Everything: summary, chapters, notes, key terms, flashcards and quiz.",
            outputs=KIT_OUTPUTS,
            exports=ALL_EXPORTS,
            summary_sentences=10,
            key_term_count=30,
            flashcard_count=30,
            quiz_count=15,
        ),
        Preset(
            key="captions-only",
            name="Captions only",
            description="Just the transcript as captions (SRT, VTT) and text.",
            outputs=("transcript",),
            exports=("md", "json", "srt", "vtt", "zip"),
            summary_sentences=0,
            key_term_count=0,
        ),
    )
}

DEFAULT_PRESET = "quick-review"


def get_preset(key: str) -> Preset:
    """The built-in preset ``key``; ``UnknownPresetError`` names the valid keys otherwise."""
    try:
        return BUILTIN_PRESETS[key]
    except KeyError:
        valid = ", ".join(sorted(BUILTIN_PRESETS))
        raise UnknownPresetError(
            f"There is no preset called {quoted(key)}. Choose one of: {valid}.", preset=key
        ) from None
