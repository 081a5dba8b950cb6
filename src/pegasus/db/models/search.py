"""Transcript segments as rows, for full-text search across a learner's lectures.

The full-text index itself is database-specific and lives in the migration: an FTS5 table
kept in sync by triggers on SQLite, a generated ``tsvector`` column with a GIN index on
PostgreSQL. Neither is mapped here; ``pegasus.search.repository`` queries them.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pegasus.db.base import Base


class TranscriptSegment(Base):
    """One transcript segment of a lecture, with its owner for access control."""

    __tablename__ = "transcript_segments"
    __table_args__ = (
        UniqueConstraint("lecture_id", "position", name="uq_transcript_segments_position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lecture_id: Mapped[str] = mapped_column(
        ForeignKey("lectures.id", ondelete="CASCADE"), index=True, nullable=False
    )
    owner_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    start: Mapped[float] = mapped_column(Float, nullable=False)
    end: Mapped[float] = mapped_column(Float, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
