"""Upload rules: creating, appending to (under a lease), completing, terminating, expiring.

The offset and the storage state live in the ``uploads`` row, the bytes in object storage,
so any API replica continues any upload. Appending spans several short transactions (take
the lease, renew it while bytes arrive, record the new offset), because a PATCH may stream
for minutes and must hold no database connection meanwhile; ``Appender`` therefore owns its
units of work, like the queue's task wrapper does.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import Settings
from pegasus.courses.service import get_course, resolve_preset
from pegasus.db.base import new_id
from pegasus.db.models import Upload
from pegasus.db.session import after_commit, unit_of_work
from pegasus.errors import (
    EmptyMediaError,
    MediaTooLargeError,
    NotFoundError,
    PegasusError,
    UploadBusyError,
    UploadGoneError,
    UploadOffsetMismatchError,
    ensure_no_nul,
    too_large_message,
)
from pegasus.lectures.service import register_stored_source
from pegasus.pipeline.ingest import SOURCE
from pegasus.pipeline.objects import after_rollback
from pegasus.presets import DEFAULT_PRESET
from pegasus.queue.dispatch import Dispatcher
from pegasus.storage.base import ObjectStore, ResumableState, ResumableWriter
from pegasus.storage.keys import lecture_key
from pegasus.uploads import repository
from pegasus.uploads.schemas import UploadRequest

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class UploadLimits:
    """How large an upload may be, how long an idle one lives, how long a lease lasts."""

    max_bytes: int
    expire: timedelta
    lease: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            max_bytes=settings.media.max_upload_bytes,
            expire=timedelta(hours=settings.uploads.expire_hours),
            lease=timedelta(seconds=settings.uploads.lock_seconds),
        )


def staging_prefix(upload_id: str) -> str:
    """Where an upload's bytes wait until it completes."""
    return f"uploads/{upload_id}/"


# --- creation, status, termination (one request transaction each) ---------------------------


def create_upload(
    session: Session,
    store: ObjectStore,
    *,
    owner_id: str,
    request: UploadRequest,
    limits: UploadLimits,
    now: datetime,
) -> Upload:
    """Check size, course and preset (as the multipart endpoint does) before anything is
    stored, then record the upload and start its resumable write."""
    ensure_no_nul(
        title=request.title,
        preset=request.preset,
        file_name=request.filename,
        file_type=request.filetype,
        course_id=request.course_id,
    )
    if request.length > limits.max_bytes:
        raise MediaTooLargeError(too_large_message(limits.max_bytes), max_bytes=limits.max_bytes)
    if request.length == 0:
        raise EmptyMediaError()
    course = get_course(session, owner_id, request.course_id)
    preset = resolve_preset(session, request.preset or DEFAULT_PRESET, course_id=course.id)
    upload_id = new_id()
    lecture_id = new_id()
    content_type = (request.filetype or "application/octet-stream").strip()[:100]
    state = store.start_resumable(
        lecture_key(course.id, lecture_id, SOURCE),
        staging_prefix(upload_id),
        content_type=content_type,
    )
    upload = Upload(
        id=upload_id,
        owner_id=owner_id,
        course_id=course.id,
        lecture_id=lecture_id,
        preset_key=preset.key,
        title=" ".join((request.title or "").split())[:300] or None,
        filename=(request.filename or "recording").strip()[:300] or "recording",
        content_type=content_type,
        length_bytes=request.length,
        offset_bytes=0,
        storage_state=state,
        created_at=now,
        expires_at=now + limits.expire,
    )
    session.add(upload)
    # The write was started before its row exists: if the row is not committed (the flush
    # or the commit fails), nothing may stay behind, an unfinished S3 multipart upload
    # included, which no listing of objects shows.
    after_rollback(session, lambda: _discard_quietly(store, state))
    try:
        session.flush()
    except BaseException:
        _discard_quietly(store, state)
        raise
    log.info(
        "upload.created",
        upload_id=upload_id,
        course_id=course.id,
        preset=preset.key,
        length_bytes=request.length,
    )
    return upload


def _discard_quietly(store: ObjectStore, state: ResumableState) -> None:
    with contextlib.suppress(PegasusError):
        store.discard_resumable(state)


def get_upload(session: Session, owner_id: str, upload_id: str, now: datetime) -> Upload:
    """The caller's upload; ``UploadGoneError`` once an unfinished one has expired."""
    upload = repository.owned_upload(session, owner_id, upload_id)
    if upload is None:
        raise NotFoundError("There is no such upload.", upload_id=upload_id)
    if upload.completed_at is None and upload.expires_at <= now:
        raise UploadGoneError(upload_id=upload_id)
    return upload


def terminate_upload(
    session: Session, store: ObjectStore, owner_id: str, upload_id: str, now: datetime
) -> None:
    """Delete the upload's bytes and row (tus termination). A lecture it already became stays;
    delete that through the lecture. ``UploadBusyError`` while a PATCH is writing to it."""
    upload = repository.owned_upload(session, owner_id, upload_id)
    if upload is None:
        raise NotFoundError("There is no such upload.", upload_id=upload_id)
    state = upload.storage_state
    if not repository.delete_if_unleased(session, upload_id, now):
        raise UploadBusyError(upload_id=upload_id)
    # The bytes go once the row's deletion is committed: storage calls never run inside the
    # transaction (on SQLite it holds the one write lock). A discard that fails is logged and
    # its bytes stay until a sweep of unreferenced objects removes them.
    after_commit(session, lambda: store.discard_resumable(state))
    log.info("upload.terminated", upload_id=upload_id)


def sweep_expired_uploads(
    session_factory: sessionmaker[Session], store: ObjectStore, now: datetime, limit: int = 100
) -> int:
    """Remove expired uploads nobody is writing to: their staged bytes (an unfinished S3
    multipart upload included), then their row. A lecture a completed upload became stays.
    Returns how many were removed; safe to run on every replica at once."""
    with unit_of_work(session_factory) as session:
        expired = [(u.id, u.storage_state) for u in repository.expired_uploads(session, now, limit)]
    removed = 0
    for upload_id, state in expired:
        try:
            store.discard_resumable(state)
        except PegasusError as exc:
            log.warning("upload.sweep.storage_failed", upload_id=upload_id, code=exc.code)
            continue
        with unit_of_work(session_factory) as session:
            if repository.delete_if_expired(session, upload_id, now):
                removed += 1
                log.info("upload.expired", upload_id=upload_id)
    return removed


# --- appending (a PATCH) ------------------------------------------------------------------


@dataclass(frozen=True)
class AppendResult:
    """Where an upload stands after a PATCH (or a HEAD that completed it)."""

    offset: int
    length: int
    expires_at: datetime
    lecture_id: str | None  # set once the upload became a lecture


def result_of(upload: Upload) -> AppendResult:
    return AppendResult(
        offset=upload.offset_bytes,
        length=upload.length_bytes,
        expires_at=upload.expires_at,
        lecture_id=upload.lecture_id if upload.completed_at is not None else None,
    )


class Appender:
    """One PATCH: ``begin`` leases the upload at the client's offset, ``write`` appends
    (renewing the lease as it goes), ``finish`` records the new offset and, when the last
    byte is in, completes the object and creates the lecture; ``abandon`` ends the lease
    without recording anything. Not thread-safe: one request drives it."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        store: ObjectStore,
        dispatcher: Dispatcher,
        limits: UploadLimits,
        *,
        owner_id: str,
        upload_id: str,
        clock: Clock,
    ) -> None:
        self._factory = session_factory
        self._store = store
        self._dispatcher = dispatcher
        self._limits = limits
        self._owner_id = owner_id
        self._upload_id = upload_id
        self._clock = clock
        self._token = str(uuid.uuid4())
        self._leased = False
        self._renewed_at = clock()
        self._writer: ResumableWriter | None = None
        self._state: ResumableState = {}
        self._upload: Upload | None = None
        self.offset = 0
        self.length = 0

    def begin(self, offset: int) -> AppendResult | None:
        """Take the lease at ``offset``; ``None`` when taken, or the result when the upload
        is already complete at that offset. 404/410/409 errors otherwise."""
        now = self._clock()
        with unit_of_work(self._factory) as session:
            taken = repository.take_lease(
                session,
                owner_id=self._owner_id,
                upload_id=self._upload_id,
                offset=offset,
                token=self._token,
                now=now,
                until=now + self._limits.lease,
            )
            upload = get_upload(session, self._owner_id, self._upload_id, now)
            if not taken:
                if upload.completed_at is not None and offset == upload.length_bytes:
                    return result_of(upload)
                if upload.offset_bytes != offset:
                    raise UploadOffsetMismatchError(
                        f"The server holds {upload.offset_bytes} bytes of this upload, "
                        f"not {offset}. Continue from byte {upload.offset_bytes}.",
                        offset=upload.offset_bytes,
                    )
                raise UploadBusyError(upload_id=self._upload_id)
        self._leased = True
        self._renewed_at = now
        self._upload = upload
        self._state = upload.storage_state
        self.offset = upload.offset_bytes
        self.length = upload.length_bytes
        return None

    def open(self) -> None:
        """Open the store's writer at the recorded offset (storage I/O: call it off-loop)."""
        self._writer = self._store.append_resumable(self._state)

    def write(self, data: bytes) -> None:
        """Append ``data`` (the caller has checked it stays within the upload's length)."""
        assert self._writer is not None
        self._renew_if_due()
        self._writer.write(data)

    def _renew_if_due(self) -> None:
        now = self._clock()
        if now - self._renewed_at < self._limits.lease / 4:
            return
        with unit_of_work(self._factory) as session:
            if not repository.renew_lease(
                session, self._upload_id, self._token, now + self._limits.lease
            ):
                self._leased = False
                raise UploadBusyError(upload_id=self._upload_id)
        self._renewed_at = now

    def finish(self) -> AppendResult:
        """Make the bytes durable and record the new offset; complete when all are in."""
        assert self._writer is not None
        assert self._upload is not None
        self._renew_if_due()
        writer, self._writer = self._writer, None
        state = writer.finish()
        size = int(state["size"])
        now = self._clock()
        expires_at = now + self._limits.expire
        full = size >= self.length
        with unit_of_work(self._factory) as session:
            recorded = repository.record_progress(
                session,
                self._upload_id,
                self._token,
                offset=size,
                state=state,
                expires_at=expires_at,
                # all bytes in: keep the lease through completion
                lease_until=now + self._limits.lease if full else None,
            )
        if not recorded:
            self._leased = False
            raise UploadBusyError(upload_id=self._upload_id)
        self._leased = full
        self._release(self._state, state)
        self._state = state
        self.offset = size
        if not full:
            log.info("upload.appended", upload_id=self._upload_id, offset=size)
            return AppendResult(size, self.length, expires_at, None)
        return self._complete(expires_at)

    def complete_if_full(self) -> AppendResult | None:
        """Finish an upload whose bytes are all in but whose lecture was not created (the
        completing request failed): lease it at its length and complete. ``None`` when
        another request holds it."""
        with unit_of_work(self._factory) as session:
            upload = get_upload(session, self._owner_id, self._upload_id, self._clock())
        if upload.completed_at is not None or upload.offset_bytes != upload.length_bytes:
            return result_of(upload)
        try:
            if self.begin(upload.length_bytes) is not None:
                return result_of(upload)
        except UploadBusyError:
            return None
        try:
            return self._complete(upload.expires_at)
        finally:
            self.abandon()

    def _complete(self, expires_at: datetime) -> AppendResult:
        assert self._upload is not None
        upload = self._upload
        stored = self._store.complete_resumable(self._state)
        now = self._clock()
        with unit_of_work(self._factory) as session:
            if not repository.record_progress(
                session,
                self._upload_id,
                self._token,
                offset=self.length,
                state=self._state,
                expires_at=expires_at,
                completed_at=now,
            ):
                raise UploadGoneError(upload_id=self._upload_id)
            course = get_course(session, self._owner_id, upload.course_id)
            register_stored_source(
                session,
                self._dispatcher,
                lecture_id=upload.lecture_id,
                course_id=course.id,
                owner_id=self._owner_id,
                title=upload.title or upload.filename.rsplit(".", 1)[0] or "Lecture",
                preset_key=upload.preset_key,
                filename=upload.filename,
                content_type=upload.content_type,
                stored=stored,
            )
        self._leased = False
        try:
            self._store.discard_resumable(self._state)
        except PegasusError as exc:
            # The staged bytes are a leftover now; the expiry sweep removes them later.
            log.warning("upload.cleanup_failed", upload_id=self._upload_id, code=exc.code)
        log.info(
            "upload.completed",
            upload_id=self._upload_id,
            lecture_id=upload.lecture_id,
            size_bytes=stored.size_bytes,
        )
        return AppendResult(self.length, self.length, expires_at, upload.lecture_id)

    def _release(self, previous: ResumableState, current: ResumableState) -> None:
        try:
            self._store.release_resumable(previous, current)
        except PegasusError as exc:
            log.warning("upload.release_failed", upload_id=self._upload_id, code=exc.code)

    def abandon(self) -> None:
        """Drop what this request wrote (later writers ignore it) and end the lease."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with contextlib.suppress(Exception):
                writer.abandon()
        if self._leased:
            self._leased = False
            with unit_of_work(self._factory) as session:
                repository.end_lease(session, self._upload_id, self._token)
