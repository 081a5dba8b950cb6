"""The study kit: what the generate stage makes from a transcript.

Every item a learner studies from (key term, flashcard, quiz item, note bullet) carries the
``Span`` of transcript it comes from: start and end in seconds and the text said there, which
really is in the transcript. Models validate themselves, so a kit that parses is well formed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class Span(BaseModel):
    """A stretch of the lecture: times in seconds and the transcript text said in it."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError("span ends before it starts")
        return self


class SummarySentence(BaseModel):
    """One sentence of the extractive summary, with its time span in the lecture (seconds)."""

    text: str
    start: float
    end: float


class KeyTerm(BaseModel):
    """A term worth learning: how often it is said, where first, and the sentence it is in.

    ``definition`` is what the lecturer said the term means (their words), empty when the
    lecture never explains it; ``source`` is the span that explains it (or first uses it).
    """

    term: str
    occurrences: int
    score: float
    first_start: float
    first_end: float
    context: str
    definition: str = ""
    source: Span | None = None


class Chapter(BaseModel):
    """A part of the lecture; chapters cover the whole timeline, in order, without gaps."""

    index: int = Field(ge=0)
    title: str = Field(min_length=1)
    start: float = Field(ge=0)
    end: float = Field(ge=0)


class NoteBullet(BaseModel):
    """One point of the notes, with the span it summarises."""

    text: str = Field(min_length=1)
    source: Span


class NoteSection(BaseModel):
    """The notes of one chapter: a heading and bullet points."""

    chapter: int = Field(ge=0)
    heading: str = Field(min_length=1)
    bullets: list[NoteBullet]


class Flashcard(BaseModel):
    """A card to learn from. ``definition``: term on the front, meaning on the back;
    ``cloze``: a sentence with a gap (``{{c1::...}}`` in Anki terms) on the front."""

    id: str = Field(min_length=1, max_length=64)
    kind: Literal["definition", "cloze"]
    front: str = Field(min_length=1)
    back: str = Field(min_length=1)
    source: Span
    edited: bool = False
    #: 1 when first generated (and in kits stored before versions existed), +1 per review
    #: edit or regenerate that changes it; the item's ETag is built from it.
    version: int = Field(default=1, ge=1)


class QuizItem(BaseModel):
    """A multiple-choice question with exactly one correct option among four."""

    id: str = Field(min_length=1, max_length=64)
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=4, max_length=4)
    answer_index: int = Field(ge=0, le=3)
    explanation: str = Field(min_length=1)
    source: Span
    edited: bool = False
    #: 1 when first generated (and in kits stored before versions existed), +1 per review
    #: edit or regenerate that changes it; the item's ETag is built from it.
    version: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _distinct_options(self) -> QuizItem:
        normalized = [option.strip().lower() for option in self.options]
        if len(set(normalized)) != len(normalized) or not all(normalized):
            raise ValueError("quiz options must be four different, non-empty answers")
        return self


class StudyKit(BaseModel):
    """Everything generated for one lecture under one preset."""

    preset: str
    generator: str = "offline"
    summary: list[SummarySentence]
    key_terms: list[KeyTerm]
    chapters: list[Chapter] = Field(default_factory=list)
    notes: list[NoteSection] = Field(default_factory=list)
    flashcards: list[Flashcard] = Field(default_factory=list)
    quiz: list[QuizItem] = Field(default_factory=list)
    #: Ids of generated flashcards and quiz items the learner deleted; a regenerate that
    #: makes them again leaves them out.
    deleted_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _chapters_tile_the_timeline(self) -> StudyKit:
        for index, chapter in enumerate(self.chapters):
            if chapter.index != index:
                raise ValueError("chapters must be numbered 0, 1, 2, ... in order")
            if chapter.end <= chapter.start:
                raise ValueError(f"chapter {index} ends before it starts")
            if index and abs(chapter.start - self.chapters[index - 1].end) > 1e-6:
                raise ValueError(f"chapter {index} does not start where chapter {index - 1} ends")
        if self.chapters and self.chapters[0].start != 0:
            raise ValueError("the first chapter must start at 0")
        return self
