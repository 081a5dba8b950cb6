"""HTTP shapes of courses, presets and a course's PII policy."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from pegasus.config import TRANSCRIPTION_MODES, TranscriptionMode
from pegasus.presets import EXPORT_KEYS, KIT_OUTPUTS, ExportKey, KitOutput
from pegasus.schemas_types import Count, VisibleStr, require_number
from pegasus.transcription.pii import MAX_NAME_CHARS, MAX_ROSTER_NAMES, PiiKind

#: Bounds of a course's own retention period, in days.
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650

#: Request enumerations: the schema lists the values; the service refuses others with a
#: message that names them (422 ``request.invalid``), which a bare enum error would not.
OutputName = Annotated[str, Field(json_schema_extra={"enum": list(KIT_OUTPUTS)})]
ExportName = Annotated[str, Field(json_schema_extra={"enum": list(EXPORT_KEYS)})]


class CourseCreate(BaseModel):
    name: VisibleStr = Field(min_length=1, max_length=200, examples=["Biology 101"])


#: A transcription mode in a request: the schema lists the values; the service refuses
#: others with the stable code ``transcription_mode.unknown`` and a sentence naming them.
TranscriptionModeName = Annotated[
    str, Field(max_length=32, json_schema_extra={"enum": list(TRANSCRIPTION_MODES)})
]


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime
    transcription_mode: TranscriptionMode | None = Field(
        default=None,
        description="fast or accurate for this course's lectures (a preset's own mode comes "
        "first); null: the server's default",
    )


class CoursePatch(BaseModel):
    """A change to a course: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    transcription_mode: TranscriptionModeName | None = Field(
        default=None,
        examples=["fast"],
        description="fast (batched, quicker) or accurate (fewer missed words); null: the "
        "server's default",
    )


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
    transcription_mode: TranscriptionMode | None = Field(
        description="fast or accurate; null: the course's mode, else the server's"
    )


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
    transcription_mode: TranscriptionModeName | None = Field(
        default=None, description="fast or accurate; null: the course's mode, else the server's"
    )

    @field_validator("glossary")
    @classmethod
    def _short_terms(cls, terms: list[str]) -> list[str]:
        if any(len(term) > 60 for term in terms):
            raise ValueError("glossary terms must be at most 60 characters")
        return terms


# --- the course's PII policy ---------------------------------------------------------------

#: A roster name: no control characters (the same rule as the OpenAPI ``pattern``).
ROSTER_NAME_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_ROSTER_NAME = re.compile(ROSTER_NAME_PATTERN)


def _no_control_characters(value: str) -> str:
    if not _ROSTER_NAME.match(value):
        raise ValueError("must not contain control characters (such as tabs or line breaks)")
    return value


RedactionKindName = Annotated[str, Field(json_schema_extra={"enum": [k.value for k in PiiKind]})]
RosterName = Annotated[
    str,
    AfterValidator(_no_control_characters),
    Field(max_length=MAX_NAME_CHARS, json_schema_extra={"pattern": ROSTER_NAME_PATTERN}),
]
#: Bounds before the validator, so the schema carries them (see ``schemas_types.Count``).
RetentionDays = Annotated[
    int, Field(ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS), BeforeValidator(require_number)
]


class PrivacyPolicyIn(BaseModel):
    """A course's whole PII policy (PUT replaces it): the kinds redacted from transcripts
    before they are stored, the roster's names, and how long recordings are kept."""

    redaction_kinds: list[RedactionKindName] = Field(
        max_length=16, examples=[["email", "phone", "id_number", "roster_name"]]
    )
    roster_names: list[RosterName] = Field(
        max_length=MAX_ROSTER_NAMES, examples=[["Jane Doe", "Wei Li"]]
    )
    audio_retention_days: RetentionDays | None = Field(
        examples=[180],
        description="days a recording is kept after upload; null: the server's default",
    )


class PrivacyPolicyOut(BaseModel):
    """A course's PII policy as stored (names cleaned, kinds in their usual order)."""

    redaction_kinds: list[RedactionKindName]
    roster_names: list[str]
    audio_retention_days: int | None = Field(
        description="days a recording is kept after upload; null: the server's default"
    )
    default_audio_retention_days: int = Field(
        description="the server's default (PEGASUS_PRIVACY_AUDIO_RETENTION_DAYS)"
    )
