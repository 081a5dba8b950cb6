"""Queries on lectures and their artifacts. A lecture whose deletion was requested
(``deleted_at`` set) is gone from every one of them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from pegasus.db.models import Artifact, Lecture


def owned_lecture(session: Session, owner_id: str, lecture_id: str) -> Lecture | None:
    return session.scalar(
        select(Lecture)
        .where(
            Lecture.id == lecture_id,
            Lecture.owner_id == owner_id,
            Lecture.deleted_at.is_(None),
        )
        .options(selectinload(Lecture.stage_runs))
    )


def lectures_of_course(session: Session, course_id: str) -> Sequence[Lecture]:
    return session.scalars(
        select(Lecture)
        .where(Lecture.course_id == course_id, Lecture.deleted_at.is_(None))
        .options(selectinload(Lecture.stage_runs))
        .order_by(Lecture.created_at, Lecture.id)
    ).all()


def artifact(session: Session, lecture_id: str, kind: str) -> Artifact | None:
    return session.scalar(
        select(Artifact).where(Artifact.lecture_id == lecture_id, Artifact.kind == kind)
    )
