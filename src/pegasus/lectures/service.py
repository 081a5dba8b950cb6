"""Lecture rules: accepting an upload, reporting status, retrying, reading results."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO

import structlog
from sqlalchemy.orm import Session

from pegasus import audit
from pegasus.audit import actions
from pegasus.courses.service import get_course, resolve_preset
from pegasus.db.base import new_id, utcnow
from pegasus.db.models import Artifact, Lecture, LectureStatus, StageName, StageStatus
from pegasus.errors import (
    EmptyMediaError,
    MediaTooLargeError,
    NotFoundError,
    NothingToRetryError,
    ObjectMissingError,
    ensure_no_nul,
    too_large_message,
)
from pegasus.exports import render_export
from pegasus.exports.bundle import safe_stem
from pegasus.exports.formats import ExportFormat, get_format
from pegasus.lectures import edit_lock
from pegasus.lectures.etags import Versioned, artifact_etag
from pegasus.pipeline import objects, transitions
from pegasus.pipeline.base import parse_stored
from pegasus.pipeline.export import export_kind, export_name
from pegasus.pipeline.generate import KIT
from pegasus.pipeline.ingest import SOURCE
from pegasus.pipeline.queries import latest_runs
from pegasus.pipeline.transcribe import TRANSCRIPT
from pegasus.queue.dispatch import Dispatcher
from pegasus.storage.base import ObjectStore, StoredObject
from pegasus.storage.keys import lecture_key
from pegasus.studykit.schemas import StudyKit
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

    Course and preset are checked before anything is stored. The object is stored under the
    new lecture's own key before the transaction that records the lecture commits; if that
    transaction rolls back (recording fails, or the commit itself), the object is deleted
    again, so no stored recording is left without its lecture.
    """
    ensure_no_nul(title=title, preset=preset_key, file_name=upload.filename)
    course = get_course(session, owner_id, course_id)
    preset = resolve_preset(session, preset_key, course_id=course.id)
    filename = (upload.filename or "recording").strip()[:300]
    clean_title = " ".join((title or "").split())[:300] or filename.rsplit(".", 1)[0] or "Lecture"
    lecture_id = new_id()
    key = lecture_key(course.id, lecture_id, SOURCE)
    try:
        stored = store.put_stream(
            key,
            upload.stream,
            content_type=upload.content_type or "application/octet-stream",
            max_bytes=max_bytes,
        )
    except MediaTooLargeError as exc:  # the same sentence as the HTTP layer's early refusal
        raise MediaTooLargeError(too_large_message(max_bytes), **exc.context) from exc
    objects.after_rollback(session, lambda: objects.discard(store, key, reason="rolled back"))
    try:
        lecture = register_stored_source(
            session,
            dispatcher,
            lecture_id=lecture_id,
            course_id=course.id,
            owner_id=owner_id,
            title=clean_title,
            preset_key=preset.key,
            filename=filename,
            content_type=upload.content_type,
            stored=stored,
        )
    except BaseException:
        # At once as well: a caller that catches the error need not roll back.
        objects.discard(store, key, reason="not recorded")
        raise
    return lecture


def register_stored_source(
    session: Session,
    dispatcher: Dispatcher,
    *,
    lecture_id: str,
    course_id: str,
    owner_id: str,
    title: str,
    preset_key: str,
    filename: str,
    content_type: str,
    stored: StoredObject,
) -> Lecture:
    """Record a lecture whose recording is already stored under its source key, and queue
    its ingest stage (sent after commit). The caller has checked course and preset;
    ``EmptyMediaError`` when nothing was stored."""
    if stored.size_bytes == 0:
        raise EmptyMediaError()
    now = utcnow()
    lecture = Lecture(
        id=lecture_id,
        course_id=course_id,
        owner_id=owner_id,
        title=title,
        preset_key=preset_key,
        status=LectureStatus.QUEUED,
        original_filename=filename,
        content_type=content_type[:100],
        size_bytes=stored.size_bytes,
        sha256=stored.sha256 or "",
        created_at=now,
    )
    session.add(lecture)
    session.add(
        Artifact(
            lecture_id=lecture_id,
            kind=SOURCE,
            key=stored.key,
            content_type=lecture.content_type or "application/octet-stream",
            size_bytes=stored.size_bytes,
            sha256=stored.sha256 or "",
        )
    )
    session.flush()
    transitions.queue_stage(session, dispatcher, lecture, StageName.INGEST, now=now)
    log.info(
        "lecture.created",
        lecture_id=lecture_id,
        course_id=course_id,
        preset=preset_key,
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
    """Queue a new attempt of the lecture's failed stage; the upload is reused. Review edits
    in flight are stored first (their locks are taken before anything is read)."""
    edit_lock.hold_artifacts(
        session, owner_id=owner_id, lecture_id=lecture_id, kinds=[TRANSCRIPT, KIT]
    )
    lecture = get_lecture(session, owner_id, lecture_id)
    failed = [run for run in latest_runs(lecture).values() if run.status == StageStatus.FAILED]
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
    return read_transcript_versioned(session, store, owner_id, lecture_id).value


def read_transcript_versioned(
    session: Session, store: ObjectStore, owner_id: str, lecture_id: str
) -> Versioned[Transcript]:
    """The stored transcript with the ETag of its artifact version (row read before the
    object, so the ETag is never newer than the JSON; see ``pegasus.lectures.etags``)."""
    lecture = get_lecture(session, owner_id, lecture_id)
    found = objects.read_artifact(session, store, lecture.id, TRANSCRIPT)
    if found is None:
        raise NotFoundError(
            "The transcript is not ready yet. Check the lecture's status and try again."
        )
    row, data = found
    etag = artifact_etag(TRANSCRIPT, lecture.id, row.version)
    return Versioned(parse_stored(data, Transcript, kind=TRANSCRIPT, key=row.key), etag)


@dataclass(frozen=True)
class SourceRecording:
    """Where a lecture's uploaded recording is stored, as the audio route serves it."""

    key: str
    content_type: str
    size_bytes: int
    sha256: str


#: An audio or video media type as RFC 9110 spells one (token "/" token), nothing else: the
#: type came from the uploading client and goes back out in a header.
_SERVABLE_MEDIA_TYPE = re.compile(r"(?:audio|video)/[a-z0-9!#$&^_.+-]{1,100}")


def servable_content_type(declared: str) -> str:
    """The uploading client's media type when it is a plain audio or video type, else
    ``application/octet-stream`` (what goes back out in a Content-Type header)."""
    cleaned = declared.strip().lower()
    return cleaned if _SERVABLE_MEDIA_TYPE.fullmatch(cleaned) else "application/octet-stream"


def source_recording(session: Session, owner_id: str, lecture_id: str) -> SourceRecording:
    """The uploaded recording of a lecture ``owner_id`` owns; ``NotFoundError`` otherwise."""
    lecture = get_lecture(session, owner_id, lecture_id)
    row = repository.artifact(session, lecture.id, SOURCE)
    if row is None:
        raise NotFoundError("The recording of this lecture is no longer stored.")
    # The type came from the uploading client: only audio and video types are served as such,
    # so a stored file can never be rendered as a page of ours.
    declared = row.content_type or lecture.content_type or ""
    return SourceRecording(
        key=row.key,
        content_type=servable_content_type(declared),
        size_bytes=row.size_bytes,
        sha256=row.sha256 or lecture.sha256,
    )


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


def open_export(
    session: Session, store: ObjectStore, owner_id: str, lecture_id: str, fmt_key: str
) -> tuple[ExportFile, BinaryIO]:
    """Export ``fmt_key`` of a lecture and its stored bytes, open for reading (the caller
    closes it). An export whose object is missing is rebuilt from the stored transcript and
    kit first (``rebuild_export``); ``ObjectMissingError`` when the transcript is gone too.
    The download is recorded in the audit log (in the caller's transaction)."""
    export = export_file(session, owner_id, lecture_id, fmt_key)
    try:
        opened = export, store.open_read(export.key)
    except ObjectMissingError:
        log.warning("export.object_missing", lecture_id=lecture_id, format=export.fmt.key)
        rebuilt = rebuild_export(session, store, owner_id, lecture_id, fmt_key)
        opened = rebuilt, store.open_read(rebuilt.key)
    # Last: the append holds the audit chain's lock until the request commits.
    audit.record(
        session,
        actions.EXPORT_DOWNLOADED,
        actor_id=owner_id,
        subject_type="lecture",
        subject_id=lecture_id,
        details={"format": export.fmt.key},
    )
    return opened


def rebuild_export(
    session: Session, store: ObjectStore, owner_id: str, lecture_id: str, fmt_key: str
) -> ExportFile:
    """Render export ``fmt_key`` again from the lecture's stored transcript and kit, store it
    under a new key and switch its artifact row to it in this transaction (the row's lock
    first, so two requests rebuilding at once take turns; the second finds the first's)."""
    fmt = get_format(fmt_key)
    kind = export_kind(fmt.key)
    locked = edit_lock.lock_artifact(session, owner_id=owner_id, lecture_id=lecture_id, kind=kind)
    session.expire_all()  # rows read before the lock may be older than what it waited for
    export = export_file(session, owner_id, lecture_id, fmt.key)
    if locked is None:
        raise NotFoundError("The exports are not ready yet. Check the lecture's status.")
    if store.exists(locked.key):
        return replace(export, key=locked.key)  # rebuilt by another request meanwhile
    lecture = get_lecture(session, owner_id, lecture_id)
    transcript_found = objects.read_artifact(session, store, lecture.id, TRANSCRIPT)
    if transcript_found is None:
        raise ObjectMissingError(
            "This export is missing and the transcript to rebuild it from is not stored.",
            lecture_id=lecture.id,
        )
    transcript_row, transcript_data = transcript_found
    transcript = parse_stored(transcript_data, Transcript, kind=TRANSCRIPT, key=transcript_row.key)
    kit_found = objects.read_artifact(session, store, lecture.id, KIT)
    kit = (
        parse_stored(kit_found[1], StudyKit, kind=KIT, key=kit_found[0].key)
        if kit_found is not None
        else None
    )
    data = render_export(
        fmt.key,
        title=lecture.title,
        transcript=transcript,
        kit=kit,
        deck_name=get_course(session, owner_id, lecture.course_id).name,
        lecture_id=lecture.id,
    )
    key = objects.new_version_key(
        lecture.course_id, lecture.id, export_name(fmt.extension), locked.version_before + 1
    )
    stored = objects.store_new_version(
        session, store, key=key, data=data, content_type=fmt.content_type
    )
    objects.switch_artifact(
        session, store, lecture_id=lecture.id, kind=kind, old_key=locked.key, stored=stored
    )
    session.flush()
    log.info(
        "export.rebuilt",
        lecture_id=lecture.id,
        format=fmt.key,
        size_bytes=stored.size_bytes,
    )
    return replace(export, key=stored.key, size_bytes=stored.size_bytes)
