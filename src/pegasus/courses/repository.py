"""Queries on courses and presets. A course whose deletion was requested (``deleted_at``
set) is gone from every one of them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from pegasus.db.models import Course, Preset


def owned_course(session: Session, owner_id: str, course_id: str) -> Course | None:
    return session.scalar(
        select(Course).where(
            Course.id == course_id, Course.owner_id == owner_id, Course.deleted_at.is_(None)
        )
    )


def courses_of(session: Session, owner_id: str) -> Sequence[Course]:
    return session.scalars(
        select(Course)
        .where(Course.owner_id == owner_id, Course.deleted_at.is_(None))
        .order_by(Course.created_at, Course.id)
    ).all()


def preset_by_key(session: Session, key: str) -> Preset | None:
    return session.get(Preset, key)


def course_presets(session: Session, course_id: str) -> Sequence[Preset]:
    return session.scalars(
        select(Preset).where(Preset.course_id == course_id).order_by(Preset.created_at)
    ).all()
