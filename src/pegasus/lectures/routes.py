"""Lecture endpoints: upload, list, status, retry, transcript, exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from pegasus.db.models import Lecture
from pegasus.dependencies import RuntimeDep, SessionDep, UserDep
from pegasus.lectures import intake, service
from pegasus.lectures.schemas import LectureOut
from pegasus.presets import DEFAULT_PRESET, EXPORT_KEYS
from pegasus.routing import UnitOfWorkRoute
from pegasus.schemas_types import OptionalFormText
from pegasus.transcription.schemas import Transcript

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/v1", tags=["lectures"])

CHUNK = 1024 * 1024
#: Listed in the schema; an unknown one is a 404 that names the formats (the service).
ExportFormatPath = Annotated[str, Path(json_schema_extra={"enum": list(EXPORT_KEYS)})]


@router.post(
    "/courses/{course_id}/lectures",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LectureOut,
    summary="Upload a recording; processing starts in the background",
)
def upload_lecture(
    course_id: str,
    file: Annotated[
        UploadFile,
        File(
            description="the recording (m4a, mp3, wav, webm, ...); an empty file is refused",
            json_schema_extra={"minLength": 1},
        ),
    ],
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    title: Annotated[OptionalFormText | None, Form(max_length=300)] = None,
    preset: Annotated[str, Form()] = DEFAULT_PRESET,
) -> LectureOut:
    lecture = accept_upload(
        session,
        runtime,
        owner_id=user.id,
        course_id=course_id,
        file=file,
        title=title,
        preset=preset,
    )
    return LectureOut.from_lecture(lecture)


def accept_upload(
    session: SessionDep,
    runtime: RuntimeDep,
    *,
    owner_id: str,
    course_id: str,
    file: UploadFile,
    title: str | None,
    preset: str,
) -> Lecture:
    """``lectures.intake.accept_upload`` with this process's store, queue, metrics and limit:
    the API's upload and the web page's upload without script both come here."""
    return intake.accept_upload(
        session,
        runtime.store,
        runtime.dispatcher,
        runtime.metrics,
        owner_id=owner_id,
        course_id=course_id,
        file=file,
        title=title,
        preset=preset,
        max_bytes=runtime.settings.media.max_upload_bytes,
    )


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
    lecture_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep, response: Response
) -> Transcript:
    transcript = service.read_transcript_versioned(session, runtime.store, user.id, lecture_id)
    response.headers["ETag"] = transcript.etag
    return transcript.value


@router.get(
    "/lectures/{lecture_id}/exports/{fmt}",
    response_class=StreamingResponse,
    summary="Download an export: md, json, srt, vtt, pdf, apkg, csv or zip",
)
def download_export(
    lecture_id: str, fmt: ExportFormatPath, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StreamingResponse:
    export, handle = service.open_export(session, runtime.store, user.id, lecture_id, fmt)

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
                f"filename*=UTF-8''{quote(_with_extension(export), safe='')}"
            ),
        },
    )


def _with_extension(export: service.ExportFile) -> str:
    """The title as a download name: no path separators or control characters (a client
    that honours ``filename*`` must not be told to write ``../../etc/passwd``)."""
    name = "".join("_" if ch in "/\\" or not ch.isprintable() else ch for ch in export.title).strip(
        " ."
    )
    return f"{name or 'lecture'}.{export.fmt.extension}"
