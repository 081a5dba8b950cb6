"""tus 1.0 endpoints at /api/v1/uploads: OPTIONS, POST (creation), HEAD, PATCH, DELETE.

Protocol: https://tus.io/protocols/resumable-upload (core, creation, expiration,
termination). Every response carries ``Tus-Resumable`` (``TusHeadersMiddleware``); a request
naming another protocol version gets 412. The upload becomes a lecture when its last byte
arrives; that response and every later HEAD carry ``Pegasus-Lecture-Id``.
"""

from __future__ import annotations

import json
from typing import Annotated

import anyio
import structlog
from fastapi import APIRouter, Header, Request, Response, status
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pegasus.db.base import utcnow
from pegasus.dependencies import RuntimeDep, SessionDep, UserDep
from pegasus.errors import (
    MediaTooLargeError,
    UploadContentTypeError,
    error_body,
    too_large_message,
)
from pegasus.routing import UnitOfWorkRoute
from pegasus.uploads import service
from pegasus.uploads.schemas import (
    LECTURE_HEADER,
    OFFSET_CONTENT_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    http_date,
    parse_length,
    upload_request,
)

log = structlog.get_logger(__name__)

PREFIX = "/api/v1/uploads"
router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, tags=["uploads"])

#: A byte count in a tus header: digits only.
BYTE_COUNT = r"^[0-9]{1,18}$"

#: Bytes gathered from the request before one store write (the S3 store buffers parts).
WRITE_BATCH = 1024 * 1024


def _headers(result: service.AppendResult) -> dict[str, str]:
    """Upload-Offset and Upload-Length; Upload-Expires while unfinished; the lecture once done."""
    headers = {"Upload-Offset": str(result.offset), "Upload-Length": str(result.length)}
    if result.lecture_id is None:
        headers["Upload-Expires"] = http_date(result.expires_at)
    else:
        headers[LECTURE_HEADER] = result.lecture_id
    return headers


@router.options("", status_code=204, summary="What this tus server supports")
def options(runtime: RuntimeDep) -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(runtime.settings.media.max_upload_bytes),
        },
    )


@router.post("", status_code=201, summary="Create an upload (tus creation)")
def create_upload(
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    upload_length: Annotated[
        str, Header(pattern=BYTE_COUNT, description="the whole file's size in bytes")
    ],
    upload_metadata: Annotated[
        str,
        Header(
            description=(
                "comma-separated `key base64(value)` pairs: course_id (required), filename, "
                "filetype, preset, title"
            )
        ),
    ],
) -> Response:
    request = upload_request(upload_length, upload_metadata)
    upload = service.create_upload(
        session,
        runtime.store,
        owner_id=user.id,
        request=request,
        limits=service.UploadLimits.from_settings(runtime.settings),
        now=utcnow(),
    )
    return Response(
        status_code=status.HTTP_201_CREATED,
        headers={
            "Location": f"{PREFIX}/{upload.id}",
            **_headers(service.result_of(upload)),
        },
    )


@router.head("/{upload_id}", summary="Where an upload stands (tus core)")
def upload_status(
    upload_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    upload = service.get_upload(session, user.id, upload_id, utcnow())
    result = service.result_of(upload)
    session.commit()  # free the connection before completion's own transactions
    if result.lecture_id is None and result.offset == result.length:
        # The request that sent the last byte failed before creating the lecture.
        finished = _appender(runtime, user.id, upload_id).complete_if_full()
        result = finished or result
    return Response(status_code=200, headers={**_headers(result), "Cache-Control": "no-store"})


@router.patch(
    "/{upload_id}",
    status_code=204,
    summary="Append bytes at an offset (tus core)",
    responses={415: {"description": f"The body is not sent as {OFFSET_CONTENT_TYPE}."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {OFFSET_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def append(
    upload_id: str,
    request: Request,
    user: UserDep,
    runtime: RuntimeDep,
    upload_offset: Annotated[
        str, Header(pattern=BYTE_COUNT, description="the server's offset, from HEAD")
    ],
) -> Response:
    content_type = request.headers.get("content-type", "")
    content_length = request.headers.get("content-length")
    if content_type.split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
        raise UploadContentTypeError()
    offset = parse_length(upload_offset, "Upload-Offset")
    declared = parse_length(content_length, "Content-Length") if content_length else None
    appender = _appender(runtime, user.id, upload_id)
    done = await anyio.to_thread.run_sync(appender.begin, offset)
    if done is not None:
        return Response(status_code=204, headers=_headers(done))
    try:
        room = appender.length - appender.offset
        if declared is not None and declared > room:
            raise MediaTooLargeError(
                f"This request carries {declared} bytes but the upload has room for {room} "
                "more (its Upload-Length). Nothing was stored.",
            )
        await anyio.to_thread.run_sync(appender.open)
        await _copy_body(request, appender, room, runtime.settings.media.max_upload_bytes)
        result = await anyio.to_thread.run_sync(appender.finish)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(appender.abandon)
        raise
    return Response(status_code=204, headers=_headers(result))


async def _copy_body(
    request: Request, appender: service.Appender, room: int, max_bytes: int
) -> None:
    """Stream the body into the upload; a client that drops the connection keeps what
    arrived (the offset moves on to it). More bytes than the upload's room: 413, none kept."""
    received = 0
    batch = bytearray()
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > room:
                raise MediaTooLargeError(
                    "This request carries more bytes than the upload has room for (its "
                    f"Upload-Length). Nothing of it was stored. {too_large_message(max_bytes)}"
                )
            batch += chunk
            if len(batch) >= WRITE_BATCH:
                await anyio.to_thread.run_sync(appender.write, bytes(batch))
                batch.clear()
    except ClientDisconnect:
        log.info("upload.client_disconnected", received=received)
    if batch:
        await anyio.to_thread.run_sync(appender.write, bytes(batch))


@router.delete("/{upload_id}", status_code=204, summary="Delete an upload (tus termination)")
def terminate(upload_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    service.terminate_upload(session, runtime.store, user.id, upload_id, utcnow())
    return Response(status_code=204)


def _appender(runtime: RuntimeDep, owner_id: str, upload_id: str) -> service.Appender:
    return service.Appender(
        runtime.session_factory,
        runtime.store,
        runtime.dispatcher,
        service.UploadLimits.from_settings(runtime.settings),
        owner_id=owner_id,
        upload_id=upload_id,
        clock=utcnow,
    )


class TusHeadersMiddleware:
    """For every request under /api/v1/uploads: refuse another protocol version with 412
    (OPTIONS excepted, as tus says) and add ``Tus-Resumable`` to every response, errors
    included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        version = headers.get(b"tus-resumable", b"").decode("latin-1").strip()
        if scope["method"] != "OPTIONS" and version != TUS_VERSION:
            await _refuse_version(scope, send, version)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"tus-resumable", TUS_VERSION.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_version)


async def _refuse_version(scope: Scope, send: Send, version: str) -> None:
    message = f"This server speaks tus {TUS_VERSION}; send 'Tus-Resumable: {TUS_VERSION}'" + (
        f" (not {version[:20]!r})." if version else "."
    )
    request_id = scope.get("state", {}).get("request_id")
    response = Response(
        content=json.dumps(error_body("upload.version", message, request_id)).encode(),
        status_code=412,
        media_type="application/json",
        headers={"Tus-Version": TUS_VERSION, "Tus-Resumable": TUS_VERSION},
    )
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
