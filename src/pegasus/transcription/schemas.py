"""The transcript: what the transcribe stage stores and every later stage reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pegasus.config import TranscriptionMode


class Word(BaseModel):
    """One recognised word with its time in the lecture, in seconds."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    word: str


class Segment(BaseModel):
    """One recognised phrase; times are absolute seconds from the start of the lecture."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    words: list[Word] = Field(default_factory=list)
    #: True once the learner corrected the text; times are kept, word times are dropped.
    edited: bool = False
    #: 1 as transcribed (and for JSON stored before versions existed), +1 per review edit;
    #: the segment's ETag is built from it (``pegasus.lectures.etags``).
    version: int = Field(default=1, ge=1)


class Recognizer(BaseModel):
    """How a transcript was made: the speech model, the decoding mode and its settings."""

    #: The model's name as configured: ``tiny.en``, ``base`` or a model directory.
    model: str
    mode: TranscriptionMode
    beam_size: int = Field(ge=1)
    compute_type: str


class Transcript(BaseModel):
    """A whole lecture's transcript, segments in time order."""

    language: str
    duration_seconds: float = Field(ge=0)
    segments: list[Segment] = Field(default_factory=list)
    #: How it was made; None for transcripts stored before Pegasus recorded it.
    recognizer: Recognizer | None = None

    @property
    def text(self) -> str:
        """All segment texts joined by single spaces."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())
