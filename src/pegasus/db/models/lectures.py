"""Lectures, their per-stage runs and the artifacts stages write."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pegasus.db.base import Base, CreatedAtMixin, IdMixin, UTCDateTime, utcnow


class StageName(enum.StrEnum):
    INGEST = "ingest"
    TRANSCRIBE = "transcribe"
    GENERATE = "generate"
    EXPORT = "export"

    def next(self) -> StageName | None:
        order = list(StageName)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class StageStatus(enum.StrEnum):
    """A stage run's state (stored as text, no CHECK constraint: removing a value that was
    never written needs no migration)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LectureStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Lecture(IdMixin, CreatedAtMixin, Base):
    """One uploaded recording and everything made from it."""

    __tablename__ = "lectures"

    course_id: Mapped[str] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True, nullable=False
    )
    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    preset_key: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=LectureStatus.QUEUED)
    original_filename: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    content_type: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Set when its deletion (or its course's) is requested: gone from every listing at once.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: When the retention job deleted its recording and ASR audio (the transcript stays).
    audio_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    stage_runs: Mapped[list[StageRun]] = relationship(
        back_populates="lecture",
        cascade="all, delete-orphan",
        order_by="(StageRun.queued_at, StageRun.attempt)",
    )
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="lecture", cascade="all, delete-orphan"
    )


class StageRun(IdMixin, Base):
    """One attempt at one stage of one lecture; the source of truth for pipeline state."""

    __tablename__ = "stage_runs"
    __table_args__ = (
        UniqueConstraint("lecture_id", "stage", "attempt", name="uq_stage_runs_attempt"),
        Index("ix_stage_runs_status_available", "status", "available_at"),
    )

    lecture_id: Mapped[str] = mapped_column(
        ForeignKey("lectures.id", ondelete="CASCADE"), index=True, nullable=False
    )
    stage: Mapped[str] = mapped_column(String(16), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=StageStatus.QUEUED)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(100), nullable=True)

    lecture: Mapped[Lecture] = relationship(back_populates="stage_runs")


class Artifact(IdMixin, CreatedAtMixin, Base):
    """A stored object a stage made for a lecture (recording, audio, transcript, export)."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("lecture_id", "kind", name="uq_artifacts_lecture_kind"),)

    lecture_id: Mapped[str] = mapped_column(
        ForeignKey("lectures.id", ondelete="CASCADE"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str] = mapped_column(String(500), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    #: Bumped by every write of the object (pipeline or review edit); the whole-resource
    #: ETag of the transcript and the kit. An edit's first statement bumps it, which takes
    #: the row's write lock and so serializes edits (see ``pegasus.lectures.edit_lock``).
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    lecture: Mapped[Lecture] = relationship(back_populates="artifacts")
