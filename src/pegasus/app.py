"""create_app(settings) -> FastAPI; the only place errors become HTTP responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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

from pegasus import __version__
from pegasus.accounts.routes import router as accounts_router
from pegasus.config import Settings
from pegasus.courses.routes import router as courses_router
from pegasus.deletion.routes import router as deletion_router
from pegasus.errors import (
    AuthenticationError,
    ConflictError,
    CsrfError,
    DatabaseUnavailableError,
    EditConflictError,
    InternalStageError,
    InvalidRequestError,
    MediaError,
    MediaTooLargeError,
    NotFoundError,
    PegasusError,
    PermissionDeniedError,
    RequestTooLargeError,
    ServiceBusyError,
    SignInRateLimitedError,
    StorageUnavailableError,
    UploadContentTypeError,
    UploadGoneError,
    UploadHeaderError,
    database_unavailable,
)
from pegasus.health import router as health_router
from pegasus.http_methods import MethodsMiddleware
from pegasus.lectures.events import LectureEvents, database_reader
from pegasus.lectures.events import router as lecture_events_router
from pegasus.lectures.media_routes import router as lecture_media_router
from pegasus.lectures.review_routes import router as review_router
from pegasus.lectures.routes import router as lectures_router
from pegasus.middleware import (
    BodyLimitMiddleware,
    NulCharacterMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    error_response,
)
from pegasus.openapi import install_docs, install_openapi
from pegasus.ops.routes import router as ops_router
from pegasus.queue.consumer import EmbeddedWorkers
from pegasus.runtime import Runtime, build_runtime
from pegasus.search.routes import router as search_router
from pegasus.uploads.routes import TusHeadersMiddleware
from pegasus.uploads.routes import router as uploads_router
from pegasus.web.account_routes import router as web_account_router
from pegasus.web.auth import SignInRequiredError, sign_in_redirect
from pegasus.web.auth_routes import router as web_auth_router
from pegasus.web.course_settings_routes import router as web_course_settings_router
from pegasus.web.deletion_routes import router as web_deletion_router
from pegasus.web.error_pages import csrf_failed_page, wants_html
from pegasus.web.flow_routes import router as web_flow_router
from pegasus.web.ops_routes import router as web_ops_router
from pegasus.web.pages import STATIC_DIR
from pegasus.web.review_routes import router as web_review_router
from pegasus.web.shell_routes import router as web_shell_router

log = structlog.get_logger(__name__)

#: Most specific class first; the first match decides the status.
STATUS_BY_ERROR: tuple[tuple[type[PegasusError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (SignInRateLimitedError, 429),
    (UploadGoneError, 410),
    (NotFoundError, 404),
    (EditConflictError, 412),
    (ConflictError, 409),
    (MediaTooLargeError, 413),
    (RequestTooLargeError, 413),
    (UploadContentTypeError, 415),
    (UploadHeaderError, 400),
    (InvalidRequestError, 422),
    (MediaError, 422),
    (StorageUnavailableError, 503),
    (DatabaseUnavailableError, 503),
    (ServiceBusyError, 503),
)


#: ``Retry-After`` of a 503 ``database.unavailable``: a restart or fail-over takes seconds.
DATABASE_RETRY_AFTER_SECONDS = 5

#: Codes of Starlette's own HTTP errors (a route that does not exist, a method it lacks).
HTTP_ERROR_CODES = {
    404: NotFoundError.code,
    405: "method_not_allowed",
    413: RequestTooLargeError.code,
}

#: What a request that the database cannot store gets (422 ``request.invalid``).
UNSTORABLE_MESSAGE = (
    "The request holds characters or values the database cannot store "
    "(such as a NUL character). Remove them and try again."
)
#: What an unexpected failure says (500): never the exception's own text.
INTERNAL_MESSAGE = (
    "Something went wrong on our side. Try again; if it keeps happening, "
    "tell the operator this request id."
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
    app.include_router(deletion_router)
    app.include_router(lectures_router)
    app.include_router(review_router)
    app.include_router(lecture_events_router)
    app.include_router(lecture_media_router)
    app.include_router(ops_router)
    app.include_router(search_router)
    app.include_router(uploads_router)
    app.include_router(accounts_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_docs(app)
    install_openapi(app)

    app.include_router(web_shell_router)
    app.include_router(web_auth_router)
    app.include_router(web_account_router)
    app.include_router(web_review_router)
    app.include_router(web_flow_router)
    app.include_router(web_course_settings_router)
    app.include_router(web_ops_router)
    app.include_router(web_deletion_router)
    app.add_exception_handler(SignInRequiredError, sign_in_redirect)

    @app.exception_handler(PegasusError)
    async def pegasus_error(request: Request, exc: PegasusError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, ServiceBusyError | SignInRateLimitedError):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        elif isinstance(exc, DatabaseUnavailableError):
            headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        if status >= 500:
            log.error("http.error", code=exc.code, path=request.url.path)
        return error_response(request.scope, exc.code, exc.message, status, headers)

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
        return error_response(request.scope, InvalidRequestError.code, message, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or HTTP_ERROR_CODES.get(exc.status_code, "http.error")
        headers = getattr(exc, "headers", None)
        return error_response(request.scope, code, str(exc.detail), exc.status_code, headers)

    @app.exception_handler(SQLAlchemyTimeoutError)
    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: Exception) -> JSONResponse:
        # No free pooled connection in time or SQLite's write lock not released in time
        # (503 service.busy), or the database unreachable (503 database.unavailable): the
        # client may try again; nothing was changed.
        if isinstance(exc, OperationalError) and not _is_locked(exc):
            if database_unavailable(exc) is None:
                return await unexpected(request, exc)
            log.warning("http.database_unavailable", path=request.url.path)
            return await pegasus_error(request, DatabaseUnavailableError())
        log.warning("http.busy", path=request.url.path, reason=type(exc).__name__)
        return await pegasus_error(request, ServiceBusyError())

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        # e.g. a NUL character, which PostgreSQL text cannot hold; nothing was stored.
        log.warning("http.data_error", path=request.url.path)
        return error_response(request.scope, InvalidRequestError.code, UNSTORABLE_MESSAGE, 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", path=request.url.path)
        return error_response(request.scope, InternalStageError.code, INTERNAL_MESSAGE, 500)

    app.add_middleware(MethodsMiddleware, router=app.router)
    app.add_middleware(NulCharacterMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_upload_bytes=settings.media.max_upload_bytes,
        metrics=runtime.metrics,
        max_chunk_bytes=settings.uploads.chunk_max_bytes,
    )
    app.add_middleware(TusHeadersMiddleware)
    # Inside GZip, so /docs' inline script is hashed before it is compressed; outside every
    # middleware that answers on its own, so their refusals carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware)
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
    app.add_middleware(RequestContextMiddleware, metrics=runtime.metrics)
    return app


def _is_locked(exc: OperationalError) -> bool:
    """SQLite's write lock not released in time (busy), as opposed to a lost database."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text
