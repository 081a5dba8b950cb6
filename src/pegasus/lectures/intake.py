"""A multipart upload taken in as a new lecture: stored, registered, queued and counted.

The API's upload and the web page's upload without script both come here, so both count in
``pegasus_ingest_requests_total`` the same way (the tus uploads count in their own slice).
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from sqlalchemy.orm import Session

from pegasus.db.models import Lecture
from pegasus.errors import PegasusError
from pegasus.lectures import service
from pegasus.observability.metrics import PipelineMetrics
from pegasus.queue.dispatch import Dispatcher
from pegasus.storage.base import ObjectStore


class MultipartFile(Protocol):
    """A file part of a multipart form (what Starlette's ``UploadFile`` offers)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def file(self) -> BinaryIO: ...


def accept_upload(
    session: Session,
    store: ObjectStore,
    dispatcher: Dispatcher,
    metrics: PipelineMetrics,
    *,
    owner_id: str,
    course_id: str,
    file: MultipartFile,
    title: str | None,
    preset: str,
    max_bytes: int,
) -> Lecture:
    """Store ``file`` as a new lecture of ``course_id`` and queue its ingest; counted as an
    accepted or a rejected ingest request. The lecture comes back with its queued stage."""
    try:
        lecture = service.create_lecture(
            session,
            store,
            dispatcher,
            owner_id=owner_id,
            course_id=course_id,
            title=title,
            preset_key=preset,
            upload=service.Upload(
                filename=file.filename or "recording",
                content_type=file.content_type or "application/octet-stream",
                stream=file.file,
            ),
            max_bytes=max_bytes,
        )
    except PegasusError:
        metrics.ingest_requests.labels(outcome="rejected").inc()
        raise
    metrics.ingest_requests.labels(outcome="accepted").inc()
    session.flush()
    session.refresh(lecture)  # loads the stage run just queued, for the answer
    return lecture
