"""Courses and the presets learners choose from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pegasus.db.base import Base, CreatedAtMixin, IdMixin


class Course(IdMixin, CreatedAtMixin, Base):
    """A learner's course; lectures belong to one."""

    __tablename__ = "courses"

    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)


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
