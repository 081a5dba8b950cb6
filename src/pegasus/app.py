"""create_app(settings) -> FastAPI; the only place errors become HTTP responses."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pegasus import __version__
from pegasus.config import Settings
from pegasus.courses.routes import router as courses_router
from pegasus.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    MediaError,
    MediaTooLargeError,
    NotFoundError,
    PegasusError,
    PermissionDeniedError,
    StorageUnavailableError,
)
from pegasus.health import router as health_router
from pegasus.lectures.review_routes import router as review_router
from pegasus.lectures.routes import router as lectures_router
from pegasus.observability.metrics import PipelineMetrics
from pegasus.ops.routes import router as ops_router
from pegasus.queue.consumer import EmbeddedWorkers
from pegasus.runtime import Runtime, build_runtime
from pegasus.search.routes import router as search_router

log = structlog.get_logger(__name__)

#: Most specific class first; the first match decides the status.
STATUS_BY_ERROR: tuple[tuple[type[PegasusError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (MediaTooLargeError, 413),
    (InvalidRequestError, 422),
    (MediaError, 422),
    (StorageUnavailableError, 503),
)


def status_for(error: PegasusError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def error_body(code: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if request_id:
        body["error"]["request_id"] = request_id
    return body


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The HTTP app. With ``settings.server.run_consumer`` it also runs queue workers and
    the reconciler in-process (the embedded default)."""
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.prepare_storage()
        workers = EmbeddedWorkers(runtime) if settings.server.run_consumer else None
        if workers:
            workers.start()
        log.info("server.started", version=__version__, embedded_workers=bool(workers))
        try:
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
    )
    app.state.runtime = runtime
    app.include_router(health_router)
    app.include_router(courses_router)
    app.include_router(lectures_router)
    app.include_router(review_router)
    app.include_router(ops_router)
    app.include_router(search_router)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.exception_handler(PegasusError)
    async def pegasus_error(request: Request, exc: PegasusError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status >= 500:
            log.error("http.error", code=exc.code, path=request.url.path)
        return JSONResponse(
            error_body(exc.code, exc.message, _request_id(request)), status, headers=headers
        )

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
        code = {404: "not_found", 405: "method_not_allowed", 413: "request.too_large"}.get(
            exc.status_code, "http.error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail), _request_id(request)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

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

    app.add_middleware(
        BodyLimitMiddleware,
        max_upload_bytes=settings.media.max_upload_bytes,
        metrics=runtime.metrics,
    )
    app.add_middleware(RequestContextMiddleware, runtime=runtime)
    return app


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
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            metrics = self.runtime.metrics
            metrics.http_requests.labels(
                scope["method"], template, str(status_holder["status"])
            ).inc()
            metrics.http_duration.labels(scope["method"], template).observe(elapsed)
            log.info(
                "http.request",
                method=scope["method"],
                route=template,
                status=status_holder["status"],
                seconds=round(elapsed, 4),
            )
            structlog.contextvars.unbind_contextvars("request_id")


class BodyTooLargeError(StarletteHTTPException):
    """Raised while a body without a declared length grows past its limit (FastAPI lets
    HTTP exceptions through its body parsing, so this becomes a 413, not a 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class BodyLimitMiddleware:
    """Refuses bodies over their limit with 413 before they are read or stored: uploads
    (``POST .../lectures``) up to the upload limit, everything else up to 1 MiB. A declared
    Content-Length is checked up front; a body without one is counted as it arrives."""

    #: Room for multipart boundaries and form fields around the file itself.
    OVERHEAD_BYTES = 64 * 1024
    OTHER_LIMIT_BYTES = 1024 * 1024

    def __init__(self, app: ASGIApp, max_upload_bytes: int, metrics: PipelineMetrics) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = scope["method"] == "POST" and scope["path"].endswith("/lectures")
        if is_upload:
            limit = self.max_upload_bytes + self.OVERHEAD_BYTES
            message = (
                f"The file is larger than this server accepts "
                f"({self.max_upload_bytes // (1024 * 1024)} MiB). "
                "Split the recording or compress it and upload again."
            )
        else:
            limit = self.OTHER_LIMIT_BYTES
            message = "The request body is too large: at most 1 MiB is accepted here."
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            if is_upload:
                self.metrics.ingest_requests.labels(outcome="rejected").inc()
            code = MediaTooLargeError.code if is_upload else "request.too_large"
            request_id = scope.get("state", {}).get("request_id")
            response = JSONResponse(
                error_body(code, message, request_id), 413, headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message_in = await receive()
            if message_in["type"] == "http.request":
                received += len(message_in.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(message)
            return message_in

        await self.app(scope, counted_receive, send)
