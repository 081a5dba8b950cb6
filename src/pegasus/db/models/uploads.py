"""Resumable (tus) uploads: where each one stands, until it becomes a lecture or expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pegasus.db.base import Base, CreatedAtMixin, IdMixin, UTCDateTime


class Upload(IdMixin, CreatedAtMixin, Base):
    """One tus upload. The offset lives here, the bytes in object storage (``storage_state``
    says where), so any API replica continues any upload. ``lecture_id`` is chosen at creation
    (the bytes are written towards that lecture's key) and the lecture exists once
    ``completed_at`` is set. ``lock_token`` with ``locked_until`` is the lease of the one
    request appending to it."""

    __tablename__ = "uploads"

    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    course_id: Mapped[str] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True, nullable=False
    )
    lecture_id: Mapped[str] = mapped_column(String(36), nullable=False)
    preset_key: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str | None] = mapped_column(String(300), nullable=True)
    filename: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    content_type: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    length_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    offset_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    storage_state: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lock_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
