"""HTTP shapes of courses and presets."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pegasus.presets import Preset


class CourseCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Biology 101"])


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime


class PresetOut(BaseModel):
    key: str
    name: str
    description: str
    outputs: list[str]
    exports: list[str]
    summary_sentences: int
    key_term_count: int
    flashcard_count: int
    quiz_count: int
    glossary: list[str]
    course_id: str | None

    @classmethod
    def from_preset(cls, preset: Preset) -> PresetOut:
        return cls(
            key=preset.key,
            name=preset.name,
            description=preset.description,
            outputs=list(preset.outputs),
            exports=list(preset.exports),
            summary_sentences=preset.summary_sentences,
            key_term_count=preset.key_term_count,
            flashcard_count=preset.flashcard_count,
            quiz_count=preset.quiz_count,
            glossary=list(preset.glossary),
            course_id=preset.course_id,
        )


class PresetCreate(BaseModel):
    """A course's own preset; counts are how many of each item to make."""

    name: str = Field(min_length=1, max_length=100, examples=["Lab review"])
    description: str = Field(default="", max_length=500)
    outputs: list[str] = Field(
        min_length=1, examples=[["transcript", "summary", "key_terms", "flashcards"]]
    )
    exports: list[str] = Field(default_factory=lambda: ["md", "json", "srt", "vtt"])
    summary_sentences: int = Field(default=5, ge=0, le=50)
    key_term_count: int = Field(default=12, ge=0, le=100)
    flashcard_count: int = Field(default=12, ge=0, le=200)
    quiz_count: int = Field(default=5, ge=0, le=100)
    glossary: list[str] = Field(
        default_factory=list, max_length=200, examples=[["chlorophyll", "Calvin cycle"]]
    )

    @field_validator("glossary")
    @classmethod
    def _short_terms(cls, terms: list[str]) -> list[str]:
        if any(len(term) > 60 for term in terms):
            raise ValueError("glossary terms must be at most 60 characters")
        return terms
