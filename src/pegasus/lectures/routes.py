"""Lecture endpoints: upload, list, status, retry, transcript, exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.responses import StreamingResponse

from pegasus.dependencies import RuntimeDep, SessionDep, UserDep
from pegasus.errors import PegasusError
from pegasus.lectures import service
from pegasus.lectures.schemas import LectureOut
from pegasus.presets import DEFAULT_PRESET
from pegasus.transcription.schemas import Transcript

router = APIRouter(prefix="/api/v1", tags=["lectures"])

CHUNK = 1024 * 1024


@router.post(
    "/courses/{course_id}/lectures",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LectureOut,
    summary="Upload a recording; processing starts in the background",
)
def upload_lecture(
    course_id: str,
    file: Annotated[UploadFile, File(description="the recording (m4a, mp3, wav, webm, ...)")],
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    title: Annotated[str | None, Form(max_length=300)] = None,
    preset: Annotated[str, Form()] = DEFAULT_PRESET,
) -> LectureOut:
    try:
        lecture = service.create_lecture(
            session,
            runtime.store,
            runtime.dispatcher,
            owner_id=user.id,
            course_id=course_id,
            title=title,
            preset_key=preset,
            upload=service.Upload(
                filename=file.filename or "recording",
                content_type=file.content_type or "application/octet-stream",
                stream=file.file,
            ),
            max_bytes=runtime.settings.media.max_upload_bytes,
        )
    except PegasusError:
        runtime.metrics.ingest_requests.labels(outcome="rejected").inc()
        raise
    runtime.metrics.ingest_requests.labels(outcome="accepted").inc()
    session.flush()
    session.refresh(lecture)
    return LectureOut.from_lecture(lecture)


@router.get("/courses/{course_id}/lectures", response_model=list[LectureOut])
def list_lectures(course_id: str, user: UserDep, session: SessionDep) -> list[LectureOut]:
    return [
        LectureOut.from_lecture(lec) for lec in service.list_lectures(session, user.id, course_id)
    ]


@router.get("/lectures/{lecture_id}", response_model=LectureOut)
def get_lecture(lecture_id: str, user: UserDep, session: SessionDep) -> LectureOut:
    return LectureOut.from_lecture(service.get_lecture(session, user.id, lecture_id))


@router.post(
    "/lectures/{lecture_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LectureOut,
    summary="Run a failed lecture again from its failed stage",
)
def retry_lecture(
    lecture_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> LectureOut:
    lecture = service.retry_lecture(session, runtime.dispatcher, user.id, lecture_id)
    return LectureOut.from_lecture(lecture)


@router.get("/lectures/{lecture_id}/transcript", response_model=Transcript)
def get_transcript(
    lecture_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> Transcript:
    return service.read_transcript(session, runtime.store, user.id, lecture_id)


@router.get(
    "/lectures/{lecture_id}/exports/{fmt}",
    response_class=StreamingResponse,
    summary="Download an export: md, json, srt or vtt",
)
def download_export(
    lecture_id: str, fmt: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StreamingResponse:
    export = service.export_file(session, user.id, lecture_id, fmt)
    handle = runtime.store.open_read(export.key)

    def body() -> Iterator[bytes]:
        try:
            while chunk := handle.read(CHUNK):
                yield chunk
        finally:
            handle.close()

    return StreamingResponse(
        body(),
        media_type=export.fmt.content_type,
        headers={
            # ASCII filename for every client, the real title for those that read RFC 6266.
            "Content-Disposition": (
                f'attachment; filename="{export.filename}"; '
                f"filename*=UTF-8''{quote(_with_extension(export))}"
            ),
        },
    )


def _with_extension(export: service.ExportFile) -> str:
    return f"{export.title}.{export.fmt.extension}"
