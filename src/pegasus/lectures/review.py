"""Review edits: the learner corrects the transcript and the generated items.

Edits are saved to the stored transcript and study kit at once. ``regenerate`` rebuilds the
kit and the exports from the (edited) transcript; items the learner edited are kept as they
are and items they deleted stay deleted (see ``merge_learner_edits``).

No edit is lost: every edit's transaction starts by locking the artifact it changes
(``edit_lock.lock_artifact``, which also bumps the artifact's version), so concurrent edits
of one lecture's transcript (or kit) run one after the other, each on the JSON the previous
one stored. Segments, flashcards and quiz items carry a ``version`` that each edit bumps; a
write with an ``If-Match`` that no longer matches (``etags.if_match_passes``) is refused with
``EditConflictError`` (412) and changes nothing. Without ``If-Match`` the last edit of an
item wins, and edits of different items all survive.

Storage and the database never disagree (``pegasus.pipeline.objects``): an edit stores the
new JSON under a new key (``transcript.v7-1a2b3c4d.json``) and switches the artifact row
(key, size, SHA-256) to it in the request's transaction; the version it replaced is deleted
once that transaction commits, and the new one if it rolls back (a failed commit
included), so the row always describes the object a reader gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import structlog
from pydantic import ValidationError
from sqlalchemy.orm import Session

from pegasus.db.base import utcnow
from pegasus.db.models import Lecture, LectureStatus, StageName
from pegasus.errors import (
    ConflictError,
    EditConflictError,
    InvalidRequestError,
    NotFoundError,
    ensure_no_nul,
)
from pegasus.lectures import edit_lock, etags, repository
from pegasus.lectures.etags import ItemKind, Versioned
from pegasus.lectures.service import get_lecture
from pegasus.pipeline import objects, transitions
from pegasus.pipeline.base import parse_stored
from pegasus.pipeline.generate import KIT, KIT_NAME
from pegasus.pipeline.transcribe import TRANSCRIPT, TRANSCRIPT_NAME
from pegasus.queue.dispatch import Dispatcher
from pegasus.search.repository import update_segment_text
from pegasus.storage.base import ObjectStore
from pegasus.studykit.schemas import Flashcard, QuizItem, StudyKit
from pegasus.transcription.schemas import Transcript

log = structlog.get_logger(__name__)

_BUSY = (LectureStatus.QUEUED, LectureStatus.PROCESSING)

#: What a learner reads when their edit lost a race, per kind of item.
CONFLICT_MESSAGES: dict[ItemKind, str] = {
    "segment": (
        "Someone else changed this segment since you opened it; reload to see their "
        "version, then make your change again."
    ),
    "flashcard": (
        "Someone else changed this flashcard since you opened it; reload to see their "
        "version, then make your change again."
    ),
    "quiz": (
        "Someone else changed this quiz question since you opened it; reload to see their "
        "version, then make your change again."
    ),
}

#: The kit's editable item lists (its fields' names).
KitCollection = Literal["flashcards", "quiz"]


@dataclass(frozen=True)
class _Items:
    """How a collection's items are named in ETags and messages, and validated."""

    kind: ItemKind
    model: type[Flashcard] | type[QuizItem]


_COLLECTIONS: dict[KitCollection, _Items] = {
    "flashcards": _Items("flashcard", Flashcard),
    "quiz": _Items("quiz", QuizItem),
}


class LectureBusyError(ConflictError):
    """This lecture is being processed; wait until it has finished, then edit it."""

    code = "lecture.busy"


def _what(kind: str) -> str:
    return "transcript" if kind == TRANSCRIPT else "study kit"


#: The object name each editable kind's versions are named after.
_NAMES = {TRANSCRIPT: TRANSCRIPT_NAME, KIT: KIT_NAME}


def _lock(
    session: Session, owner_id: str, lecture_id: str, kind: str
) -> tuple[Lecture, edit_lock.LockedArtifact]:
    """Lock ``kind`` of the lecture for an edit (first statement), then check the lecture
    is ``owner_id``'s (404) and not being processed (409)."""
    locked = edit_lock.lock_artifact(session, owner_id=owner_id, lecture_id=lecture_id, kind=kind)
    lecture = get_lecture(session, owner_id, lecture_id)
    if lecture.status in _BUSY:
        raise LectureBusyError()
    if locked is None:
        raise NotFoundError(f"This lecture has no {_what(kind)} yet.")
    return lecture, locked


def _require_match(
    if_match: str | None,
    *,
    item_etag: str,
    kind: str,
    lecture: Lecture,
    locked: edit_lock.LockedArtifact,
    item_kind: ItemKind,
) -> None:
    whole = etags.artifact_etag(kind, lecture.id, locked.version_before)
    if not etags.if_match_passes(if_match, (item_etag, whole)):
        log.info("review.edit.conflict", lecture_id=lecture.id, item=item_kind)
        raise EditConflictError(CONFLICT_MESSAGES[item_kind])


def _save(
    session: Session,
    store: ObjectStore,
    lecture: Lecture,
    kind: str,
    locked: edit_lock.LockedArtifact,
    data: bytes,
) -> None:
    """Store the edited object as a new version under a new key and switch the row to it;
    the old version goes after the commit, the new one on a rollback (see module doc)."""
    key = objects.new_version_key(
        lecture.course_id, lecture.id, _NAMES[kind], locked.version_before + 1
    )
    stored = objects.store_new_version(session, store, key=key, data=data)
    objects.switch_artifact(
        session, store, lecture_id=lecture.id, kind=kind, old_key=locked.key, stored=stored
    )
    session.flush()


def read_kit(session: Session, store: ObjectStore, owner_id: str, lecture_id: str) -> StudyKit:
    return read_kit_versioned(session, store, owner_id, lecture_id).value


def read_kit_versioned(
    session: Session, store: ObjectStore, owner_id: str, lecture_id: str
) -> Versioned[StudyKit]:
    """The stored kit with the ETag of its artifact version (never newer than the JSON)."""
    lecture = get_lecture(session, owner_id, lecture_id)
    found = objects.read_artifact(session, store, lecture.id, KIT)
    if found is None:
        raise NotFoundError("This lecture has no study kit yet.")
    row, data = found
    etag = etags.artifact_etag(KIT, lecture.id, row.version)
    return Versioned(parse_stored(data, StudyKit, kind=KIT, key=row.key), etag)


def edit_segment(
    session: Session,
    store: ObjectStore,
    owner_id: str,
    lecture_id: str,
    position: int,
    text: str,
    *,
    if_match: str | None = None,
) -> Versioned[Transcript]:
    """Replace segment ``position``'s text; its times stay, its word times are dropped, its
    version goes up by one. The ETag returned is the segment's new one."""
    lecture, locked = _lock(session, owner_id, lecture_id, TRANSCRIPT)
    transcript = parse_stored(
        store.get_bytes(locked.key), Transcript, kind=TRANSCRIPT, key=locked.key
    )
    if not 0 <= position < len(transcript.segments):
        raise NotFoundError(
            f"There is no segment {position}; this transcript has "
            f"{len(transcript.segments)} (numbered from 0)."
        )
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InvalidRequestError("A segment cannot be empty; delete words, not the segment.")
    ensure_no_nul(text=cleaned)
    segment = transcript.segments[position]
    _require_match(
        if_match,
        item_etag=etags.item_etag("segment", lecture.id, position, segment.version),
        kind=TRANSCRIPT,
        lecture=lecture,
        locked=locked,
        item_kind="segment",
    )
    segment.text = cleaned
    segment.words = []
    segment.edited = True
    segment.version += 1
    if not update_segment_text(session, lecture_id=lecture.id, position=position, text_=cleaned):
        log.warning("review.segment.not_indexed", lecture_id=lecture.id, position=position)
    _save(session, store, lecture, TRANSCRIPT, locked, transcript.model_dump_json().encode())
    log.info(
        "review.segment.edited", lecture_id=lecture.id, position=position, version=segment.version
    )
    return Versioned(transcript, etags.item_etag("segment", lecture.id, position, segment.version))


@dataclass(frozen=True)
class ItemRef:
    """Which kit item an edit is for, whose lecture it is, and the ``If-Match`` sent."""

    owner_id: str
    lecture_id: str
    item_id: str
    if_match: str | None = None


@dataclass
class _ItemEdit:
    """A kit item found for an edit, its kit locked and loaded, its ``If-Match`` checked."""

    lecture: Lecture
    locked: edit_lock.LockedArtifact
    kit: StudyKit
    items: list[Any]
    index: int
    collection: KitCollection
    item_id: str

    @property
    def item(self) -> Any:
        return self.items[self.index]

    def etag(self, item: Any) -> str:
        kind = _COLLECTIONS[self.collection].kind
        return etags.item_etag(kind, self.lecture.id, item.id, item.version)

    def save(self, session: Session, store: ObjectStore, event: str, **fields: object) -> None:
        """Store the edited kit (``_save``) and log ``event``."""
        _save(session, store, self.lecture, KIT, self.locked, self.kit.model_dump_json().encode())
        log.info(
            event,
            lecture_id=self.lecture.id,
            collection=self.collection,
            item_id=self.item_id,
            **fields,
        )


def _open_item(
    session: Session, store: ObjectStore, collection: KitCollection, ref: ItemRef
) -> _ItemEdit:
    lecture, locked = _lock(session, ref.owner_id, ref.lecture_id, KIT)
    kit = parse_stored(store.get_bytes(locked.key), StudyKit, kind=KIT, key=locked.key)
    items: list[Any] = getattr(kit, collection)
    index = next((i for i, item in enumerate(items) if item.id == ref.item_id), None)
    if index is None:
        raise NotFoundError(f"There is no such item in this lecture's {collection}.")
    found = _ItemEdit(lecture, locked, kit, items, index, collection, ref.item_id)
    _require_match(
        ref.if_match,
        item_etag=found.etag(found.item),
        kind=KIT,
        lecture=lecture,
        locked=locked,
        item_kind=_COLLECTIONS[collection].kind,
    )
    return found


def edit_item(
    session: Session,
    store: ObjectStore,
    collection: KitCollection,
    ref: ItemRef,
    changes: dict[str, Any],
) -> Versioned[StudyKit]:
    """Apply ``changes`` to a flashcard or quiz item, mark it edited and bump its version.
    The ETag returned is the item's new one."""
    found = _open_item(session, store, collection, ref)
    ensure_no_nul(**{k: v for k, v in changes.items() if isinstance(v, str)})
    ensure_no_nul(**{f"option {n}": v for n, v in enumerate(changes.get("options", []), 1)})
    item = found.item
    try:
        edited = _COLLECTIONS[collection].model.model_validate(
            {**item.model_dump(), **changes, "edited": True, "version": item.version + 1}
        )
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise InvalidRequestError(f"That edit is not valid: {problems}.") from exc
    found.items[found.index] = edited
    found.save(session, store, "review.item.edited", version=edited.version)
    return Versioned(found.kit, found.etag(edited))


def delete_item(
    session: Session, store: ObjectStore, collection: KitCollection, ref: ItemRef
) -> StudyKit:
    """Remove a flashcard or quiz item; a regenerate will not bring it back."""
    found = _open_item(session, store, collection, ref)
    kit = found.kit
    setattr(kit, collection, [item for item in found.items if item.id != ref.item_id])
    kit.deleted_ids = sorted({*kit.deleted_ids, ref.item_id})
    found.save(session, store, "review.item.deleted")
    return kit


def regenerate(session: Session, dispatcher: Dispatcher, owner_id: str, lecture_id: str) -> Lecture:
    """Queue the generate stage (then export) again from the stored transcript.

    Takes the transcript's and kit's edit locks first, so edits in flight are stored before
    the lecture turns busy and the stage reads them; the generate stage's write then bumps
    the kit's version."""
    edit_lock.hold_artifacts(
        session, owner_id=owner_id, lecture_id=lecture_id, kinds=[TRANSCRIPT, KIT]
    )
    lecture = get_lecture(session, owner_id, lecture_id)
    if lecture.status in _BUSY:
        raise LectureBusyError()
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
