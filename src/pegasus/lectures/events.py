"""Live lecture status as Server-Sent Events, read from the database's stage runs.

``GET /api/v1/lectures/{id}/events`` answers ``text/event-stream``::

    retry: 3000

    event: lecture
    id: <digest of the state>
    data: <the LectureOut JSON, as GET /api/v1/lectures/{id} returns it, on one line>

    : keep-alive

The first ``lecture`` event comes at once; another follows whenever the state changes (a
stage's status, progress, message or error); a ``: keep-alive`` comment goes out after 15 s
without one; the stream ends right after a lecture whose status is ``succeeded`` or
``failed``, when the lecture is deleted, when the client leaves and when the server stops.
A reconnect whose ``Last-Event-ID`` is the current state of a finished lecture gets 204,
which tells an ``EventSource`` to stop reconnecting.

A waiting stream holds no database connection and no thread: it sleeps on the event loop and
reads the state about once a second in a short unit of work on a thread of its own small
pool (``PEGASUS_SERVER_EVENT_READ_THREADS``), so hundreds of streams cost a few
connections, never the request threads' pool.
"""

from __future__ import annotations

import functools
import hashlib
import random
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import anyio
import anyio.to_thread
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pegasus.config import EVENT_READ_THREADS
from pegasus.db.models import LectureStatus
from pegasus.db.session import unit_of_work
from pegasus.dependencies import UserDep
from pegasus.errors import NotFoundError
from pegasus.lectures import service
from pegasus.lectures.schemas import LectureOut
from pegasus.routing import UnitOfWorkRoute

log = structlog.get_logger(__name__)

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/v1", tags=["lectures"])

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 3000
#: A stream whose reads keep failing this many times in a row ends; the client reconnects.
MAX_READ_FAILURES = 30
FINISHED = frozenset({LectureStatus.SUCCEEDED.value, LectureStatus.FAILED.value})
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class LectureState:
    """One reading of a lecture: its ``LectureOut`` JSON, status and a digest of the JSON."""

    json: str
    status: str
    digest: str

    @classmethod
    def of(cls, lecture: LectureOut) -> LectureState:
        body = lecture.model_dump_json()
        digest = hashlib.sha256(body.encode()).hexdigest()[:32]
        return cls(json=body, status=lecture.status, digest=digest)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def event(self) -> str:
        return f"event: lecture\nid: {self.digest}\ndata: {self.json}\n\n"


#: Reads the state of lecture ``lecture_id`` for ``owner_id``; None when it is not theirs or
#: does not exist (any more). Runs on a worker thread.
StateReader = Callable[[str, str], LectureState | None]


def database_reader(session_factory: sessionmaker[Session]) -> StateReader:
    """A ``StateReader`` that opens a session, reads, and closes it again."""

    def read(owner_id: str, lecture_id: str) -> LectureState | None:
        with unit_of_work(session_factory) as session:
            try:
                lecture = service.get_lecture(session, owner_id, lecture_id)
            except NotFoundError:
                return None
            return LectureState.of(LectureOut.from_lecture(lecture))

    return read


class LectureEvents:
    """What every event stream of one app shares: the state reader, the small thread pool
    it runs on, and the server's stop signal."""

    def __init__(
        self,
        reader: StateReader,
        *,
        read_threads: int = EVENT_READ_THREADS,
        poll_seconds: float = POLL_SECONDS,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.reader = reader
        self.read_threads = read_threads
        self.poll_seconds = poll_seconds
        self.keepalive_seconds = keepalive_seconds
        self._stopping = threading.Event()
        self._limiter: anyio.CapacityLimiter | None = None

    # --- stopping ------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """End every open stream within one poll interval, and refuse none (new streams
        also end after their first event)."""
        self._stopping.set()

    @contextmanager
    def stop_on_exit_signals(self) -> Iterator[None]:
        """While open, SIGINT and SIGTERM first stop the streams, then reach the handler that
        was installed (uvicorn's). Uvicorn waits for open responses to finish before it
        shuts the app down, so without this an open stream would hold up every shutdown.
        Outside the main thread (a test client) only the final ``stop`` applies."""
        previous: dict[signal.Signals, Callable[[int, FrameType | None], Any]] = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(number)
                if callable(handler):
                    previous[number] = handler
                    signal.signal(number, functools.partial(self._on_signal, handler))
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self.stop()

    def _on_signal(
        self, handler: Callable[[int, FrameType | None], Any], number: int, frame: FrameType | None
    ) -> None:
        self.stop()
        handler(number, frame)

    # --- reading -------------------------------------------------------------------------

    async def read(self, owner_id: str, lecture_id: str) -> LectureState | None:
        """The lecture's state, read on one of this pool's threads (never a request thread)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.read_threads)
        return await anyio.to_thread.run_sync(
            self.reader, owner_id, lecture_id, limiter=self._limiter
        )

    async def stream(
        self, request: Request, owner_id: str, lecture_id: str, first: LectureState
    ) -> AsyncIterator[str]:
        """The event stream after ``first`` was read (see the module docstring)."""
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        current = first
        yield current.event()
        last_write = time.monotonic()
        failures = 0
        # Spread the polls of streams opened together over the interval.
        delay = self.poll_seconds * random.uniform(0.5, 1.0)  # nosec B311  # jitter
        while not current.finished:
            await anyio.sleep(delay)
            delay = self.poll_seconds
            if self.stopping or await request.is_disconnected():
                log.debug("lecture.events.closed", lecture_id=lecture_id, stopping=self.stopping)
                return
            try:
                latest = await self.read(owner_id, lecture_id)
            except Exception as exc:
                # A busy pool or a database restart: keep the stream and try again.
                failures += 1
                log.warning(
                    "lecture.events.read_failed",
                    lecture_id=lecture_id,
                    failures=failures,
                    error=type(exc).__name__,
                )
                if failures >= MAX_READ_FAILURES:
                    return
                latest = current
            else:
                failures = 0
            if latest is None:
                log.info("lecture.events.gone", lecture_id=lecture_id)
                return
            if latest.digest != current.digest:
                current = latest
                yield current.event()
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= self.keepalive_seconds:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()


class LectureEventResponse(Response):
    """Checks the lecture is the user's and reads it once, then streams its events.

    This runs after the endpoint returned, so the request's own database session (the one
    that authenticated the user) is closed before the first read: one connection at a time.
    """

    media_type = "text/event-stream"

    def __init__(self, events: LectureEvents, request: Request, owner_id: str, lecture_id: str):
        super().__init__()
        self.events = events
        self.request = request
        self.owner_id = owner_id
        self.lecture_id = lecture_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await self.events.read(self.owner_id, self.lecture_id)
        if first is None:
            raise NotFoundError("There is no such lecture.", lecture_id=self.lecture_id)
        response: Response
        if first.finished and self.request.headers.get("last-event-id") == first.digest:
            response = Response(status_code=204, headers=HEADERS)
        else:
            response = StreamingResponse(
                self.events.stream(self.request, self.owner_id, self.lecture_id, first),
                media_type=self.media_type,
                headers=HEADERS,
            )
        await response(scope, receive, send)


@router.get(
    "/lectures/{lecture_id}/events",
    response_class=StreamingResponse,
    summary="Live status of a lecture as Server-Sent Events",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the event stream"},
        204: {"description": "the lecture finished at the state the client already has"},
    },
)
async def lecture_events(lecture_id: str, request: Request, user: UserDep) -> Response:
    """``event: lecture`` with the LectureOut JSON at once and on every change; ends after
    ``succeeded`` or ``failed``. 404 for a lecture that is not the user's."""
    events: LectureEvents = request.app.state.lecture_events
    return LectureEventResponse(events, request, user.id, lecture_id)
