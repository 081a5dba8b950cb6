"""The lecture's recording for the browser's audio player: whole, or by HTTP Range requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from pegasus.dependencies import RuntimeDep, SessionDep, UserDep
from pegasus.errors import NotFoundError, ObjectMissingError, error_body
from pegasus.lectures import service
from pegasus.lectures.byte_ranges import ByteRange, RangeNotSatisfiableError, resolve_range
from pegasus.routing import UnitOfWorkRoute
from pegasus.storage.base import ObjectStore

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/v1", tags=["lectures"])

#: Bytes read from storage per chunk sent; memory per transfer stays about this.
CHUNK = 256 * 1024


@router.head("/lectures/{lecture_id}/audio", include_in_schema=False)
@router.get(
    "/lectures/{lecture_id}/audio",
    response_class=StreamingResponse,
    summary="Stream the uploaded recording; Range requests answer 206",
    responses={206: {"description": "the requested byte range"}, 416: {}},
)
def lecture_audio(
    lecture_id: str, request: Request, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The recording with its content type. ``Range: bytes=a-b``, ``bytes=a-`` and
    ``bytes=-n`` answer 206 with ``Content-Range``; a range that starts past the end answers
    416 with ``Content-Range: bytes */size``; several ranges (or an ``If-Range`` that no
    longer matches) answer the whole recording. The database session's work ends before the
    object is opened, so no connection is held while storage answers or the bytes go out."""
    recording = service.source_recording(session, user.id, lecture_id)
    session.commit()
    etag = f'"{recording.sha256}"' if recording.sha256 else None
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if etag:
        headers["ETag"] = etag
    header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if header is not None and if_range is not None and if_range.strip() != etag:
        header = None  # the client's copy is of another recording: send it whole
    try:
        wanted = resolve_range(header, recording.size_bytes)
    except RangeNotSatisfiableError:
        return _not_satisfiable(request, recording.size_bytes, headers)
    length = recording.size_bytes if wanted is None else wanted.length
    headers["Content-Length"] = str(length)
    status = 200 if wanted is None else 206
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=recording.content_type)
    handle = _open(runtime.store, recording, wanted)
    return StreamingResponse(
        _chunks(handle, length),
        status_code=status,
        headers=headers,
        media_type=recording.content_type,
    )


def _open(
    store: ObjectStore, recording: service.SourceRecording, wanted: ByteRange | None
) -> BinaryIO:
    try:
        if wanted is None:
            return store.open_read(recording.key)
        return store.open_range(recording.key, wanted.start, wanted.length)
    except ObjectMissingError as exc:
        raise NotFoundError("The recording of this lecture is no longer stored.") from exc


def _chunks(handle: BinaryIO, length: int) -> Iterator[bytes]:
    """Exactly ``length`` bytes of ``handle`` in chunks; closes it, also on disconnect."""
    left = length
    try:
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                break  # the object shrank under us; the client sees a short body
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _not_satisfiable(request: Request, size: int, headers: dict[str, str]) -> JSONResponse:
    message = (
        f"The requested byte range is outside the recording, which has {size} bytes. "
        "Ask for a range that starts before its end."
    )
    request_id = request.scope.get("state", {}).get("request_id")
    return JSONResponse(
        error_body("request.range_not_satisfiable", message, request_id),
        status_code=416,
        headers={**headers, "Content-Range": f"bytes */{size}"},
    )
