"""Worker heartbeats: each worker process keeps a row fresh while it lives."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.db.models import Worker
from pegasus.db.session import unit_of_work

log = structlog.get_logger(__name__)


def count_alive(session: Session, *, now: datetime, alive_seconds: float) -> int:
    """Workers seen within ``alive_seconds``."""
    cutoff = now - timedelta(seconds=alive_seconds)
    return (
        session.scalar(
            select(func.count()).select_from(Worker).where(Worker.last_seen_at >= cutoff)
        )
        or 0
    )


class WorkerHeartbeat:
    """Registers this process as a worker and renews ``last_seen_at`` every ``interval``.

    The row is deleted on a clean stop; a killed worker's row simply goes stale, and
    ``pegasus_workers_alive`` stops counting it.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        kind: str,
        interval_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._session_factory = session_factory
        self._kind = kind
        self._interval = interval_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> None:
        try:
            self.beat()
        except Exception:
            # A database that is down at start must not stop the worker: the loop beats again.
            log.warning("queue.heartbeat.failed", worker_id=self.worker_id)
        self._thread.start()

    def beat(self) -> None:
        now = self._clock()
        with unit_of_work(self._session_factory) as session:
            row = session.get(Worker, self.worker_id)
            if row is None:
                session.add(
                    Worker(
                        id=self.worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        kind=self._kind,
                        started_at=now,
                        last_seen_at=now,
                    )
                )
            else:
                row.last_seen_at = now

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            with unit_of_work(self._session_factory) as session:
                session.execute(delete(Worker).where(Worker.id == self.worker_id))
        except Exception:
            log.warning("queue.heartbeat.unregister_failed", worker_id=self.worker_id)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:
                log.warning("queue.heartbeat.failed", worker_id=self.worker_id)
