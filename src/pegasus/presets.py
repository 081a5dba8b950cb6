"""Presets: what a learner asks Pegasus to make from a lecture. The built-ins live here;
a course's own presets are stored in the database (``pegasus.courses.service``) and resolved
with the same ``get_preset``.

No built-in names a transcription mode, so each is transcribed in its course's mode, else
the server's, whose default is ``accurate``. Chosen by measurement (docs/quality.md,
"Transcription modes"): on real human speech ``fast`` (batched decoding) dropped whole
lines; tiny.en's pooled word error rate was 11.0% in ``fast`` and 6.0% in ``accurate``,
base's 9.0% and 5.6%, for 1.1 to 1.8x the time (tiny.en on two idle cores: about 3.7
instead of 2.1 minutes per hour of lecture) and less memory. A study kit built on missing
lines misses what was said there, which costs a learner more than a minute's wait. A
built-in that named ``accurate`` itself would overrule the course's and the server's choice
(the preset's mode comes first), so they leave it to the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

from pegasus.errors import QUOTED_VALUE_CHARS, UnknownPresetError, quoted

if TYPE_CHECKING:  # config and presets are siblings that do not import each other
    from pegasus.config import TranscriptionMode

#: A study-kit part a preset may ask for. ``transcript`` is always produced.
KitOutput = Literal["transcript", "summary", "key_terms", "chapters", "notes", "flashcards", "quiz"]
#: The name of every export format, in the order they are listed and written. The one list
#: of names: ``pegasus.exports.formats`` maps each to its file type and renderer, and refuses
#: to load when a name has none.
ExportKey = Literal["md", "json", "srt", "vtt", "pdf", "apkg", "csv", "zip"]

KIT_OUTPUTS: tuple[KitOutput, ...] = get_args(KitOutput)
EXPORT_KEYS: tuple[ExportKey, ...] = get_args(ExportKey)


@dataclass(frozen=True)
class Preset:
    """A named recipe: which kit parts and exports to make, and how big. The one model of a
    preset: built-ins, a course's own (stored as a row, see ``options``), the API's shapes."""

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
    #: ``fast`` or ``accurate``; None: the course's mode, else the server's.
    transcription_mode: TranscriptionMode | None = None
    course_id: str | None = None  # set for a course's own presets

    def wants(self, output: str) -> bool:
        return output in self.outputs

    def options(self) -> dict[str, Any]:
        """The sizes and glossary as plain JSON: what a stored preset keeps besides its
        key, name, description, outputs, exports and course."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name in OPTION_NAMES
            for value in (getattr(self, name),)
        }

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **identity: Any) -> Preset:
        """The preset with ``identity`` (key, name, ...) and the stored ``options``; an
        option that is missing keeps its default, an unknown one is ignored."""
        known: dict[str, Any] = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in options.items()
            if name in OPTION_NAMES
        }
        return cls(**identity, **known)


#: The fields a stored preset keeps in its JSON ``options`` (the others have columns).
OPTION_NAMES: tuple[str, ...] = tuple(
    f.name
    for f in fields(Preset)
    if f.name not in {"key", "name", "description", "outputs", "exports", "course_id"}
)


BUILTIN_PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            key="quick-review",
            name="Quick review",
            description="A short summary, the key terms and a few flashcards: a ten-minute "
            "refresher.",
            outputs=("transcript", "summary", "key_terms", "chapters", "flashcards"),
            exports=EXPORT_KEYS,
            summary_sentences=3,
            key_term_count=8,
            flashcard_count=8,
        ),
        Preset(
            key="exam-prep",
            name="Exam prep",
            description="Key terms, many flashcards and a quiz to test yourself.",
            outputs=("transcript", "summary", "key_terms", "chapters", "flashcards", "quiz"),
            exports=EXPORT_KEYS,
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
            exports=EXPORT_KEYS,
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


def chosen_transcription_mode(
    preset: Preset, course_mode: TranscriptionMode | None
) -> TranscriptionMode | None:
    """The mode a lecture is transcribed in: the preset's, else its course's; None means
    the server's ``PEGASUS_TRANSCRIPTION_MODE``. The one place this precedence is decided."""
    return preset.transcription_mode or course_mode


def get_preset(key: str, own: Iterable[Preset] = ()) -> Preset:
    """The preset ``key``: a built-in, or one of ``own`` (a course's own presets).

    The one way a preset is resolved; ``UnknownPresetError`` names the valid keys otherwise
    (the built-ins in catalogue order, then ``own``)."""
    found = {**BUILTIN_PRESETS, **{preset.key: preset for preset in own}}
    try:
        return found[key]
    except KeyError:
        raise UnknownPresetError(
            f"There is no preset called {quoted(key)}. Choose one of: {', '.join(found)}.",
            preset=key[:QUOTED_VALUE_CHARS],
        ) from None
