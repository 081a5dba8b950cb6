"""The study kit: what the generate stage makes from a transcript."""

from __future__ import annotations

from pydantic import BaseModel


class SummarySentence(BaseModel):
    """One sentence of the extractive summary, with its time span in the lecture (seconds)."""

    text: str
    start: float
    end: float


class KeyTerm(BaseModel):
    """A term worth learning: how often it is said, where first, and the sentence it is in."""

    term: str
    occurrences: int
    score: float
    first_start: float
    first_end: float
    context: str


class StudyKit(BaseModel):
    """Everything generated for one lecture under one preset."""

    preset: str
    summary: list[SummarySentence]
    key_terms: list[KeyTerm]
