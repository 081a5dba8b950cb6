"""Operational state: live workers and incidents received from Alertmanager."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pegasus.db.base import Base, IdMixin, UTCDateTime, utcnow


class Worker(Base):
    """A process that runs stages; it renews ``last_seen_at`` while it lives."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # worker | embedded
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, index=True
    )


class Incident(IdMixin, Base):
    """One alert episode as Alertmanager reported it (firing, then maybe resolved)."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("fingerprint", "starts_at", name="uq_incidents_fingerprint_start"),
    )

    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    alertname: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # firing | resolved
    severity: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    runbook_url: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, index=True
    )
