"""HTTP shapes of courses and presets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pegasus.presets import EXPORT_KEYS, KIT_OUTPUTS, ExportKey, KitOutput
from pegasus.schemas_types import Count, VisibleStr

#: Request enumerations: the schema lists the values; the service refuses others with a
#: message that names them (422 ``request.invalid``), which a bare enum error would not.
OutputName = Annotated[str, Field(json_schema_extra={"enum": list(KIT_OUTPUTS)})]
ExportName = Annotated[str, Field(json_schema_extra={"enum": list(EXPORT_KEYS)})]


class CourseCreate(BaseModel):
    name: VisibleStr = Field(min_length=1, max_length=200, examples=["Biology 101"])


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime


class PresetOut(BaseModel):
    """A ``pegasus.presets.Preset`` as the API shows it (``PresetOut.model_validate(preset)``)."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    name: str
    description: str
    outputs: list[KitOutput]
    exports: list[ExportKey]
    summary_sentences: int
    key_term_count: int
    flashcard_count: int
    quiz_count: int
    glossary: list[str]
    course_id: str | None


def _default_exports() -> list[str]:
    return ["md", "json", "srt", "vtt"]


class PresetCreate(BaseModel):
    """A course's own preset (the fields of ``pegasus.presets.Preset`` a learner chooses);
    counts are how many of each item to make (integers, never booleans: ``false`` is
    refused, not read as 0)."""

    name: VisibleStr = Field(min_length=1, max_length=100, examples=["Lab review"])
    description: str = Field(default="", max_length=500)
    outputs: list[OutputName] = Field(
        min_length=1, examples=[["transcript", "summary", "key_terms", "flashcards"]]
    )
    exports: list[ExportName] = Field(default_factory=_default_exports)
    summary_sentences: Count = Field(default=5, ge=0, le=50)
    key_term_count: Count = Field(default=12, ge=0, le=100)
    flashcard_count: Count = Field(default=12, ge=0, le=200)
    quiz_count: Count = Field(default=5, ge=0, le=100)
    glossary: list[str] = Field(
        default_factory=list, max_length=200, examples=[["chlorophyll", "Calvin cycle"]]
    )

    @field_validator("glossary")
    @classmethod
    def _short_terms(cls, terms: list[str]) -> list[str]:
        if any(len(term) > 60 for term in terms):
            raise ValueError("glossary terms must be at most 60 characters")
        return terms
