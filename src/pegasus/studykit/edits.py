"""Keeping the learner's review edits when a study kit is generated again."""

from __future__ import annotations

from typing import Any

from pegasus.studykit.schemas import StudyKit


def merge_learner_edits(previous: StudyKit | None, fresh: StudyKit) -> StudyKit:
    """``fresh`` with the learner's work on ``previous`` kept: edited flashcards and quiz
    items replace their regenerated versions (or are kept when no longer generated), and
    deleted ones stay out."""
    if previous is None:
        return fresh
    deleted = set(previous.deleted_ids)
    merged = fresh.model_copy(deep=True)
    merged.deleted_ids = sorted(deleted)
    for collection in ("flashcards", "quiz"):
        edited = {item.id: item for item in getattr(previous, collection) if item.edited}
        kept: list[Any] = []
        for item in getattr(fresh, collection):
            if item.id in deleted:
                continue
            kept.append(edited.pop(item.id, item))
        kept.extend(edited.values())  # edited items the new kit no longer makes
        setattr(merged, collection, kept)
    return merged
