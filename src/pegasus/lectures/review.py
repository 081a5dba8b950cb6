"""Review edits: the learner corrects the transcript and the generated items.

Edits are saved to the stored transcript and study kit at once. ``regenerate`` rebuilds the
kit and the exports from the (edited) transcript; items the learner edited are kept as they
are and items they deleted stay deleted (see ``merge_learner_edits``).
"""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.orm import Session

from pegasus.db.base import utcnow
from pegasus.db.models import Lecture, LectureStatus, StageName
from pegasus.errors import ConflictError, InvalidRequestError, NotFoundError
from pegasus.lectures import repository
from pegasus.lectures.service import get_lecture
from pegasus.pipeline import transitions
from pegasus.pipeline.generate import KIT
from pegasus.pipeline.transcribe import TRANSCRIPT
from pegasus.queue.dispatch import Dispatcher
from pegasus.search.repository import update_segment_text
from pegasus.storage.base import ObjectStore
from pegasus.studykit.schemas import Flashcard, QuizItem, StudyKit
from pegasus.transcription.schemas import Transcript

log = structlog.get_logger(__name__)


class LectureBusyError(ConflictError):
    """This lecture is being processed; wait until it has finished, then edit it."""

    code = "lecture.busy"


def _editable(session: Session, owner_id: str, lecture_id: str) -> Lecture:
    lecture = get_lecture(session, owner_id, lecture_id)
    if lecture.status in (LectureStatus.QUEUED, LectureStatus.PROCESSING):
        raise LectureBusyError()
    return lecture


def _load(session: Session, store: ObjectStore, lecture: Lecture, kind: str) -> tuple[str, bytes]:
    row = repository.artifact(session, lecture.id, kind)
    if row is None:
        what = "transcript" if kind == TRANSCRIPT else "study kit"
        raise NotFoundError(f"This lecture has no {what} yet.")
    return row.key, store.get_bytes(row.key)


def _save(session: Session, store: ObjectStore, lecture: Lecture, kind: str, data: bytes) -> None:
    row = repository.artifact(session, lecture.id, kind)
    assert row is not None
    stored = store.put_bytes(row.key, data, content_type="application/json")
    row.size_bytes = stored.size_bytes
    row.sha256 = stored.sha256 or ""


def read_kit(session: Session, store: ObjectStore, owner_id: str, lecture_id: str) -> StudyKit:
    lecture = get_lecture(session, owner_id, lecture_id)
    return StudyKit.model_validate_json(_load(session, store, lecture, KIT)[1])


def edit_segment(
    session: Session, store: ObjectStore, owner_id: str, lecture_id: str, position: int, text: str
) -> Transcript:
    """Replace segment ``position``'s text; its times stay, its word times are dropped."""
    lecture = _editable(session, owner_id, lecture_id)
    transcript = Transcript.model_validate_json(_load(session, store, lecture, TRANSCRIPT)[1])
    if not 0 <= position < len(transcript.segments):
        raise NotFoundError(
            f"There is no segment {position}; this transcript has "
            f"{len(transcript.segments)} (numbered from 0)."
        )
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InvalidRequestError("A segment cannot be empty; delete words, not the segment.")
    segment = transcript.segments[position]
    segment.text = cleaned
    segment.words = []
    segment.edited = True
    _save(session, store, lecture, TRANSCRIPT, transcript.model_dump_json().encode())
    update_segment_text(session, lecture_id=lecture.id, position=position, text_=cleaned)
    log.info("review.segment.edited", lecture_id=lecture.id, position=position)
    return transcript


def edit_item(
    session: Session,
    store: ObjectStore,
    owner_id: str,
    lecture_id: str,
    *,
    collection: str,
    item_id: str,
    changes: dict[str, Any],
) -> StudyKit:
    """Apply ``changes`` to flashcard or quiz item ``item_id`` and mark it edited."""
    lecture = _editable(session, owner_id, lecture_id)
    kit = StudyKit.model_validate_json(_load(session, store, lecture, KIT)[1])
    items: list[Any] = getattr(kit, collection)
    model: type[Flashcard] | type[QuizItem] = Flashcard if collection == "flashcards" else QuizItem
    for index, item in enumerate(items):
        if item.id == item_id:
            try:
                items[index] = model.model_validate(
                    {**item.model_dump(), **changes, "edited": True}
                )
            except ValidationError as exc:
                problems = "; ".join(e["msg"] for e in exc.errors())
                raise InvalidRequestError(f"That edit is not valid: {problems}.") from exc
            break
    else:
        raise NotFoundError(f"There is no such item in this lecture's {collection}.")
    _save(session, store, lecture, KIT, kit.model_dump_json().encode())
    log.info("review.item.edited", lecture_id=lecture.id, collection=collection, item_id=item_id)
    return kit


def delete_item(
    session: Session,
    store: ObjectStore,
    owner_id: str,
    lecture_id: str,
    *,
    collection: str,
    item_id: str,
) -> StudyKit:
    """Remove a flashcard or quiz item; a regenerate will not bring it back."""
    lecture = _editable(session, owner_id, lecture_id)
    kit = StudyKit.model_validate_json(_load(session, store, lecture, KIT)[1])
    items: list[Any] = getattr(kit, collection)
    remaining = [item for item in items if item.id != item_id]
    if len(remaining) == len(items):
        raise NotFoundError(f"There is no such item in this lecture's {collection}.")
    setattr(kit, collection, remaining)
    kit.deleted_ids = sorted({*kit.deleted_ids, item_id})
    _save(session, store, lecture, KIT, kit.model_dump_json().encode())
    log.info("review.item.deleted", lecture_id=lecture.id, collection=collection, item_id=item_id)
    return kit


def regenerate(session: Session, dispatcher: Dispatcher, owner_id: str, lecture_id: str) -> Lecture:
    """Queue the generate stage (then export) again from the stored transcript."""
    lecture = _editable(session, owner_id, lecture_id)
    if repository.artifact(session, lecture.id, TRANSCRIPT) is None:
        raise ConflictError(
            "This lecture has no transcript yet, so there is nothing to regenerate."
        )
    done = {LectureStatus.SUCCEEDED, LectureStatus.FAILED}
    if not transitions.requeue_lecture(session, lecture, from_statuses=done):
        raise LectureBusyError()
    transitions.queue_stage(session, dispatcher, lecture, StageName.GENERATE, now=utcnow())
    session.flush()
    session.refresh(lecture)
    log.info("review.regenerate.queued", lecture_id=lecture.id)
    return lecture
