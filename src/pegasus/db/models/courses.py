"""Courses and the presets learners choose from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from pegasus.config import TranscriptionMode
from pegasus.db.base import Base, CreatedAtMixin, IdMixin, UTCDateTime

#: PII kinds a new course redacts: all of them (``pegasus.transcription.pii``).
DEFAULT_REDACTION_KINDS = ("email", "phone", "id_number", "roster_name")


class Course(IdMixin, CreatedAtMixin, Base):
    """A learner's course; lectures belong to one."""

    __tablename__ = "courses"

    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    #: Set when its deletion is requested: gone from every listing, search and export at once.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The PII kinds redacted from this course's transcripts before they are stored.
    redaction_kinds: Mapped[list[str]] = mapped_column(
        JSON,
        nullable=False,
        default=lambda: list(DEFAULT_REDACTION_KINDS),
        server_default=text('\'["email", "phone", "id_number", "roster_name"]\''),
    )
    #: Names of the people on the course's roster, redacted as ``roster_name``.
    roster_names: Mapped[list[str]] = mapped_column(
        JSON, nullable=False, default=list, server_default=text("'[]'")
    )
    #: Days a lecture's recording is kept after upload; None: the deployment's default.
    audio_retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ``fast`` or ``accurate`` for this course's lectures (a preset's own mode comes first);
    #: None: the server's ``PEGASUS_TRANSCRIPTION_MODE``.
    transcription_mode: Mapped[TranscriptionMode | None] = mapped_column(String(16), nullable=True)


class Preset(CreatedAtMixin, Base):
    """A preset row: built-ins are seeded by migration; custom ones belong to a course."""

    __tablename__ = "presets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    outputs: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    exports: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    is_builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    course_id: Mapped[str | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), nullable=True, index=True
    )
