"""create_app(settings) -> FastAPI; the only place errors become HTTP responses."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pegasus import __version__
from pegasus.config import Settings
from pegasus.courses.routes import router as courses_router
from pegasus.errors import (
    AuthenticationError,
    ConflictError,
    CsrfError,
    EditConflictError,
    InvalidRequestError,
    MediaError,
    MediaTooLargeError,
    NotFoundError,
    PegasusError,
    PermissionDeniedError,
    ServiceBusyError,
    StorageUnavailableError,
    UploadContentTypeError,
    UploadGoneError,
    UploadHeaderError,
    error_body,
    format_size,
    too_large_message,
)
from pegasus.health import router as health_router
from pegasus.http_methods import MethodsMiddleware
from pegasus.lectures.events import LectureEvents, database_reader
from pegasus.lectures.events import router as lecture_events_router
from pegasus.lectures.media_routes import router as lecture_media_router
from pegasus.lectures.review_routes import router as review_router
from pegasus.lectures.routes import router as lectures_router
from pegasus.observability.metrics import UNMATCHED_ROUTE, PipelineMetrics
from pegasus.openapi import install_docs, install_openapi
from pegasus.ops.routes import router as ops_router
from pegasus.queue.consumer import EmbeddedWorkers
from pegasus.runtime import Runtime, build_runtime
from pegasus.search.routes import router as search_router
from pegasus.uploads.routes import TusHeadersMiddleware
from pegasus.uploads.routes import router as uploads_router
from pegasus.web.auth import SignInRequiredError, sign_in_redirect
from pegasus.web.auth_routes import router as web_auth_router
from pegasus.web.error_pages import csrf_failed_page, wants_html
from pegasus.web.flow_routes import router as web_flow_router
from pegasus.web.review_routes import router as web_review_router
from pegasus.web.shell_routes import router as web_shell_router

log = structlog.get_logger(__name__)

#: Web app assets and vendored browser files, served at /static.
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"

#: Most specific class first; the first match decides the status.
STATUS_BY_ERROR: tuple[tuple[type[PegasusError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (UploadGoneError, 410),
    (NotFoundError, 404),
    (EditConflictError, 412),
    (ConflictError, 409),
    (MediaTooLargeError, 413),
    (UploadContentTypeError, 415),
    (UploadHeaderError, 400),
    (InvalidRequestError, 422),
    (MediaError, 422),
    (StorageUnavailableError, 503),
    (ServiceBusyError, 503),
)


def status_for(error: PegasusError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The HTTP app. With ``settings.server.run_consumer`` it also runs queue workers and
    the reconciler in-process (the embedded default)."""
    runtime = runtime or build_runtime(settings, serving=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes and dependencies run on this many threads; the connection pool is
        # sized to match (see pegasus.runtime.database_threads).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.server.threads
        runtime.prepare_storage()
        workers = EmbeddedWorkers(runtime) if settings.server.run_consumer else None
        if workers:
            workers.start()
        log.info("server.started", version=__version__, embedded_workers=bool(workers))
        try:
            with lecture_events.stop_on_exit_signals():
                yield
        finally:
            if workers:
                workers.stop()
            runtime.close()

    app = FastAPI(
        title="Pegasus",
        version=__version__,
        description="Lecture recordings in, study kits out.",
        lifespan=lifespan,
        # /docs is served from vendored Swagger UI (install_docs); ReDoc needs a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    # Live status streams: their own small read pool, ended when the server stops.
    lecture_events = LectureEvents(
        database_reader(runtime.session_factory), read_threads=settings.server.event_read_threads
    )
    app.state.lecture_events = lecture_events
    app.include_router(health_router)
    app.include_router(courses_router)
    app.include_router(lectures_router)
    app.include_router(review_router)
    app.include_router(lecture_events_router)
    app.include_router(lecture_media_router)
    app.include_router(ops_router)
    app.include_router(search_router)
    app.include_router(uploads_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_docs(app)
    install_openapi(app)

    app.include_router(web_shell_router)
    app.include_router(web_auth_router)
    app.include_router(web_review_router)
    app.include_router(web_flow_router)
    app.add_exception_handler(SignInRequiredError, sign_in_redirect)

    @app.exception_handler(PegasusError)
    async def pegasus_error(request: Request, exc: PegasusError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, ServiceBusyError):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        if status >= 500:
            log.error("http.error", code=exc.code, path=request.url.path)
        return JSONResponse(
            error_body(exc.code, exc.message, _request_id(request)), status, headers=headers
        )

    @app.exception_handler(CsrfError)
    async def csrf_error(request: Request, exc: CsrfError) -> Response:
        # A browser's page form (it asks for HTML) gets a page that says what to do;
        # API clients keep the JSON body.
        if wants_html(request):
            return csrf_failed_page(request, exc)
        return await pegasus_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
            problems.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        message = "The request is not valid: " + "; ".join(problems) + "."
        return JSONResponse(error_body("request.invalid", message, _request_id(request)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or {
            404: "not_found",
            405: "method_not_allowed",
            413: "request.too_large",
        }.get(exc.status_code, "http.error")
        return JSONResponse(
            error_body(code, str(exc.detail), _request_id(request)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(SQLAlchemyTimeoutError)
    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: Exception) -> JSONResponse:
        # No free pooled connection in time, or SQLite's write lock not released in time, or
        # the database unreachable: the client may try again; nothing was changed.
        if isinstance(exc, OperationalError) and not _is_busy(exc):
            return await unexpected(request, exc)
        log.warning("http.busy", path=request.url.path, reason=type(exc).__name__)
        return await pegasus_error(request, ServiceBusyError())

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        # e.g. a NUL character, which PostgreSQL text cannot hold; nothing was stored.
        log.warning("http.data_error", path=request.url.path)
        return JSONResponse(
            error_body(
                "request.invalid",
                "The request holds characters or values the database cannot store "
                "(such as a NUL character). Remove them and try again.",
                _request_id(request),
            ),
            422,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", path=request.url.path)
        return JSONResponse(
            error_body(
                "internal.error",
                "Something went wrong on our side. Try again; if it keeps happening, "
                "tell the operator this request id.",
                _request_id(request),
            ),
            500,
        )

    app.add_middleware(MethodsMiddleware, router=app.router)
    app.add_middleware(NulCharacterMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_upload_bytes=settings.media.max_upload_bytes,
        metrics=runtime.metrics,
        max_chunk_bytes=settings.uploads.chunk_max_bytes,
    )
    app.add_middleware(TusHeadersMiddleware)
    # Pages, scripts and JSON travel compressed to phones. Starlette leaves event streams,
    # ranges, audio, video and zips alone; the other ready-compressed exports are added.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=6,
        exclude_content_types=(
            *DEFAULT_EXCLUDED_CONTENT_TYPES,
            "application/pdf",
            "application/apkg",
            "application/octet-stream",
        ),
    )
    app.add_middleware(RequestContextMiddleware, runtime=runtime)
    return app


def _is_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked"/"busy", or a database that cannot be reached."""
    text = str(exc.orig).lower()
    return any(
        marker in text
        for marker in (
            "database is locked",
            "database is busy",
            "connection refused",
            "could not connect",
            "connection to server",
            "server closed the connection",
            "terminating connection",
        )
    )


def _request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``), logs it, counts it in metrics."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None)
            template = path if isinstance(path, str) else None
            elapsed = time.perf_counter() - started
            # Labels from fixed sets only: invented methods and paths add no series.
            self.runtime.metrics.observe_http(
                scope["method"], template, status_holder["status"], elapsed
            )
            log.info(
                "http.request",
                method=scope["method"][:32],
                route=template or UNMATCHED_ROUTE,
                status=status_holder["status"],
                seconds=round(elapsed, 4),
            )
            structlog.contextvars.unbind_contextvars("request_id")


class NulCharacterMiddleware:
    """Refuses a NUL character anywhere in a request's text with 422 ``request.invalid``:
    the path (so path parameters), the query string, and JSON or URL-encoded form bodies
    (read whole; ``BodyLimitMiddleware`` outside this one caps them). PostgreSQL cannot store
    NUL and SQLite would, so both columns refuse it here, before any route runs. Multipart
    uploads are not read here: their text fields are checked by the upload service."""

    TEXT_BODIES = (b"application/json", b"application/x-www-form-urlencoded")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = None
        query = scope.get("query_string") or b""
        if "\x00" in scope["path"] or b"%00" in (scope.get("raw_path") or b""):
            where = "the address (URL path)"
        elif b"%00" in query or b"\x00" in query:
            where = "the query string"
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
        if where is None and content_type.startswith(self.TEXT_BODIES):
            body = b""
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left before sending its body
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            if _body_has_nul(body, is_json=content_type.startswith(b"application/json")):
                where = "the request body"
            receive = _replay(body, receive)
        if where is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            error_body(
                "request.invalid",
                f"The request holds a NUL character (\\0) in {where}. Remove it and try again.",
                scope.get("state", {}).get("request_id"),
            ),
            422,
        )
        await response(scope, receive, send)


def _body_has_nul(body: bytes, *, is_json: bool) -> bool:
    if b"\x00" in body:
        return True
    if not is_json:
        return b"%00" in body  # a URL-encoded form
    if b"\\u0000" not in body.lower():
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False  # not JSON: the route's validation says so
    pending: list[Any] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the client sends next."""
    pending: Message | None = {"type": "http.request", "body": body, "more_body": False}

    async def replayed() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replayed


class BodyTooLargeError(StarletteHTTPException):
    """Raised while a body without a declared length grows past its limit (FastAPI lets
    HTTP exceptions through its body parsing, so this becomes a 413, not a 400). ``code`` is
    the error code the response carries (``media.too_large`` for uploads)."""

    def __init__(self, message: str, code: str = "request.too_large") -> None:
        super().__init__(status_code=413, detail=message)
        self.code = code


@dataclass(frozen=True)
class BodyLimit:
    """How many body bytes one kind of request may send, and what a refusal says."""

    max_bytes: int
    code: str
    message: str
    is_upload: bool = False


class BodyLimitMiddleware:
    """Refuses bodies over their limit with 413 before they are read or stored: uploads
    (``POST .../lectures``) up to the upload limit, everything else up to 1 MiB. A declared
    Content-Length is checked up front; a body without one is counted as it arrives. Either
    way the same request gets the same answer (uploads: ``media.too_large``). Add a kind of
    request by adding a rule to ``limit_for``."""

    #: Room for multipart boundaries and form fields around the file itself.
    OVERHEAD_BYTES = 64 * 1024
    OTHER_LIMIT_BYTES = 1024 * 1024

    def __init__(
        self,
        app: ASGIApp,
        max_upload_bytes: int,
        metrics: PipelineMetrics,
        max_chunk_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.metrics = metrics
        self.max_chunk_bytes = max_chunk_bytes

    def limit_for(self, scope: Scope) -> BodyLimit:
        """The limit for this request's body."""
        if scope["method"] == "POST" and scope["path"].endswith("/lectures"):
            return BodyLimit(
                max_bytes=self.max_upload_bytes + self.OVERHEAD_BYTES,
                code=MediaTooLargeError.code,
                message=too_large_message(self.max_upload_bytes),
                is_upload=True,
            )
        if scope["method"] == "PATCH" and scope["path"].startswith("/api/v1/uploads/"):
            # A tus chunk; the route itself checks the total against Upload-Length.
            return BodyLimit(
                max_bytes=self.max_chunk_bytes,
                code="request.too_large",
                message=(
                    f"One upload request may carry at most {format_size(self.max_chunk_bytes)}; "
                    "send the file in smaller chunks."
                ),
            )
        return BodyLimit(
            max_bytes=self.OTHER_LIMIT_BYTES,
            code="request.too_large",
            message=(
                "The request body is too large: at most "
                f"{format_size(self.OTHER_LIMIT_BYTES)} is accepted here."
            ),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit.max_bytes:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message_in = await receive()
            if message_in["type"] == "http.request":
                received += len(message_in.get("body", b""))
                if received > limit.max_bytes:
                    if limit.is_upload:
                        self.metrics.ingest_requests.labels(outcome="rejected").inc()
                    raise BodyTooLargeError(limit.message, limit.code)
            return message_in

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLargeError:
            # Raised outside FastAPI's handlers (a middleware reading the body): answer here.
            if started:
                raise
            await self._refuse(scope, receive, send, limit, count=False)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, limit: BodyLimit, *, count: bool = True
    ) -> None:
        if limit.is_upload and count:
            self.metrics.ingest_requests.labels(outcome="rejected").inc()
        request_id = scope.get("state", {}).get("request_id")
        response = JSONResponse(
            error_body(limit.code, limit.message, request_id),
            413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
