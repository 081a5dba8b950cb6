"""Lecture rules: accepting an upload, reporting status, retrying, reading results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import structlog
from sqlalchemy.orm import Session

from pegasus.courses.service import get_course, resolve_preset
from pegasus.db.base import new_id, utcnow
from pegasus.db.models import Artifact, Lecture, LectureStatus, StageName, StageStatus
from pegasus.errors import (
    EmptyMediaError,
    NotFoundError,
    NothingToRetryError,
)
from pegasus.exports.bundle import safe_stem
from pegasus.exports.formats import ExportFormat, get_format
from pegasus.pipeline import transitions
from pegasus.pipeline.export import export_kind
from pegasus.pipeline.ingest import SOURCE
from pegasus.pipeline.transcribe import TRANSCRIPT
from pegasus.queue.dispatch import Dispatcher
from pegasus.storage.base import ObjectStore
from pegasus.storage.keys import lecture_key
from pegasus.transcription.schemas import Transcript

from . import repository

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the route received it."""

    filename: str
    content_type: str
    stream: BinaryIO


def create_lecture(
    session: Session,
    store: ObjectStore,
    dispatcher: Dispatcher,
    *,
    owner_id: str,
    course_id: str,
    title: str | None,
    preset_key: str,
    upload: Upload,
    max_bytes: int,
) -> Lecture:
    """Store the upload (streamed, hashed, size-limited) and queue its ingest stage.

    Course and preset are checked before anything is stored. If recording the lecture fails
    after the upload was stored, the stored object is deleted again.
    """
    course = get_course(session, owner_id, course_id)
    preset = resolve_preset(session, preset_key, course_id=course.id)
    filename = (upload.filename or "recording").strip()[:300]
    clean_title = " ".join((title or "").split())[:300] or filename.rsplit(".", 1)[0] or "Lecture"
    lecture_id = new_id()
    key = lecture_key(course.id, lecture_id, SOURCE)
    stored = store.put_stream(
        key,
        upload.stream,
        content_type=upload.content_type or "application/octet-stream",
        max_bytes=max_bytes,
    )
    try:
        if stored.size_bytes == 0:
            raise EmptyMediaError()
        now = utcnow()
        lecture = Lecture(
            id=lecture_id,
            course_id=course.id,
            owner_id=owner_id,
            title=clean_title,
            preset_key=preset.key,
            status=LectureStatus.QUEUED,
            original_filename=filename,
            content_type=upload.content_type[:100],
            size_bytes=stored.size_bytes,
            sha256=stored.sha256 or "",
            created_at=now,
        )
        session.add(lecture)
        session.add(
            Artifact(
                lecture_id=lecture_id,
                kind=SOURCE,
                key=key,
                content_type=lecture.content_type or "application/octet-stream",
                size_bytes=stored.size_bytes,
                sha256=stored.sha256 or "",
            )
        )
        session.flush()
        transitions.queue_stage(session, dispatcher, lecture, StageName.INGEST, now=now)
    except BaseException:
        store.delete_prefix(key.rsplit("/", 1)[0] + "/")
        raise
    log.info(
        "lecture.created",
        lecture_id=lecture_id,
        course_id=course.id,
        preset=preset.key,
        size_bytes=stored.size_bytes,
    )
    return lecture


def get_lecture(session: Session, owner_id: str, lecture_id: str) -> Lecture:
    """The lecture if ``owner_id`` owns it; ``NotFoundError`` otherwise (even if it exists)."""
    lecture = repository.owned_lecture(session, owner_id, lecture_id)
    if lecture is None:
        raise NotFoundError("There is no such lecture.", lecture_id=lecture_id)
    return lecture


def list_lectures(session: Session, owner_id: str, course_id: str) -> Sequence[Lecture]:
    course = get_course(session, owner_id, course_id)
    return repository.lectures_of_course(session, course.id)


def retry_lecture(
    session: Session, dispatcher: Dispatcher, owner_id: str, lecture_id: str
) -> Lecture:
    """Queue a new attempt of the lecture's failed stage; the upload is reused."""
    lecture = get_lecture(session, owner_id, lecture_id)
    failed = [
        run for run in transitions.latest_runs(lecture).values() if run.status == StageStatus.FAILED
    ]
    if lecture.status != LectureStatus.FAILED or not failed:
        raise NothingToRetryError(
            f"This lecture is {lecture.status}; only a failed lecture can be retried."
        )
    stage = StageName(failed[0].stage)
    if not transitions.requeue_lecture(session, lecture, from_statuses={LectureStatus.FAILED}):
        raise NothingToRetryError("This lecture is already being retried.")
    transitions.queue_stage(session, dispatcher, lecture, stage, now=utcnow())
    session.flush()
    session.refresh(lecture)
    log.info("lecture.retried", lecture_id=lecture.id, stage=stage.value)
    return lecture


def read_transcript(
    session: Session, store: ObjectStore, owner_id: str, lecture_id: str
) -> Transcript:
    lecture = get_lecture(session, owner_id, lecture_id)
    row = repository.artifact(session, lecture.id, TRANSCRIPT)
    if row is None:
        raise NotFoundError(
            "The transcript is not ready yet. Check the lecture's status and try again."
        )
    return Transcript.model_validate_json(store.get_bytes(row.key))


@dataclass(frozen=True)
class ExportFile:
    fmt: ExportFormat
    key: str
    size_bytes: int
    filename: str  # ASCII, safe in any header
    title: str  # the lecture's own title, for the UTF-8 filename* parameter


def export_file(session: Session, owner_id: str, lecture_id: str, fmt_key: str) -> ExportFile:
    """Where export ``fmt_key`` of a lecture is stored, and a download filename for it."""
    fmt = get_format(fmt_key)
    lecture = get_lecture(session, owner_id, lecture_id)
    row = repository.artifact(session, lecture.id, export_kind(fmt.key))
    if row is None:
        if lecture.status == LectureStatus.SUCCEEDED:
            raise NotFoundError(f"The preset of this lecture does not include {fmt.key} exports.")
        raise NotFoundError("The exports are not ready yet. Check the lecture's status.")
    return ExportFile(
        fmt=fmt,
        key=row.key,
        size_bytes=row.size_bytes,
        filename=f"{safe_stem(lecture.title)}.{fmt.extension}",
        title=lecture.title,
    )
