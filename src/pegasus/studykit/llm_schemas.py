"""The JSON shape asked of the model for one transcript window (checked with pydantic).

Extra keys are ignored (a model may add a ``quote``); times are seconds into the lecture and
are mapped back to the transcript by ``llm_windows.Timeline``, never trusted as text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Timed(Answer):
    start: float
    end: float


class Point(Timed):
    text: str = Field(min_length=1)


class Section(Answer):
    title: str = Field(min_length=1)
    start: float
    bullets: list[Point] = Field(default_factory=list)


class Term(Timed):
    term: str = Field(min_length=1)
    definition: str = ""


class Card(Timed):
    kind: Literal["definition", "cloze"]
    front: str = Field(min_length=1)
    back: str = Field(min_length=1)


class Question(Timed):
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=4, max_length=4)
    answer_index: int = Field(ge=0, le=3)
    explanation: str = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_options(self) -> Question:
        normalized = [option.strip().lower() for option in self.options]
        if len(set(normalized)) != len(normalized) or not all(normalized):
            raise ValueError("quiz options must be four different, non-empty answers")
        return self


class MapAnswer(Answer):
    """One window's answer: only the keys the prompt asked for are filled."""

    summary_points: list[Point] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    key_terms: list[Term] = Field(default_factory=list)
    flashcards: list[Card] = Field(default_factory=list)
    quiz: list[Question] = Field(default_factory=list)


def describe(exc: ValidationError) -> str:
    """The first five problems of a validation error, for the model's retry note and ours."""
    errors = exc.errors(include_url=False, include_input=False)
    described = [
        f"{'.'.join(str(p) for p in error['loc']) or 'top level'}: {error['msg']}"
        for error in errors[:5]
    ]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(described) + more
