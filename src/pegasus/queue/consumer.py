"""Running Huey consumers: a standalone worker process, or threads inside the server.

The caller passes the process it builds (``pegasus.runtime.Runtime``) as a ``WorkerHost``,
so the queue depends on nothing above it."""

from __future__ import annotations

from typing import Protocol

import structlog
from huey.api import Huey
from huey.consumer import Consumer
from prometheus_client import CollectorRegistry, start_http_server

from pegasus.config import Settings
from pegasus.queue.heartbeat import WorkerHeartbeat

log = structlog.get_logger(__name__)


class BackgroundLoop(Protocol):
    """A thread the worker starts and stops with its consumer (the reconciler)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def run_once(self) -> object: ...


class WorkerHost(Protocol):
    """What a worker needs from the process it runs in."""

    settings: Settings
    huey: Huey
    exposition: CollectorRegistry

    def reconciler(self) -> BackgroundLoop: ...

    def heartbeat(self, kind: str) -> WorkerHeartbeat: ...

    def prepare_storage(self) -> None: ...


class _QuietConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves signal handling to its host process (uvicorn)."""

    def _set_signal_handlers(self) -> None:
        return None


def build_consumer(huey: Huey, *, workers: int, embedded: bool) -> Consumer:
    """The one Huey consumer configuration: ``workers`` threads, no periodic tasks (the
    reconciler has its own thread), polling quickly for new messages. Embedded in the
    server it leaves signals to uvicorn and gives running stages 10 s on shutdown (their
    leases expire and the reconciler hands them on); a worker process waits for them."""
    options = {
        "workers": workers,
        "worker_type": "thread",
        "periodic": False,
        "initial_delay": 0.1,
        "max_delay": 1.0,
    }
    if embedded:
        return _QuietConsumer(huey, shutdown_timeout=10, **options)
    return Consumer(huey, **options)


class EmbeddedWorkers:
    """Queue worker threads plus the reconciler, inside `pegasus serve` (embedded mode)."""

    def __init__(self, host: WorkerHost) -> None:
        self._consumer = build_consumer(
            host.huey, workers=host.settings.queue.workers, embedded=True
        )
        self._reconciler = host.reconciler()
        self._heartbeat = host.heartbeat("embedded")

    def start(self) -> None:
        self._consumer.start()
        self._reconciler.start()
        self._heartbeat.start()
        log.info("queue.embedded.started", worker_id=self._heartbeat.worker_id)

    def stop(self) -> None:
        self._heartbeat.stop()
        self._reconciler.stop()
        self._consumer.stop(graceful=True)
        log.info("queue.embedded.stopped")


def run_worker(host: WorkerHost) -> None:
    """Block running a Huey consumer and the reconciler until SIGINT/SIGTERM."""
    settings = host.settings
    host.prepare_storage()
    reconciler = host.reconciler()
    try:
        reconciler.run_once()  # pick up what was lost while no worker ran
    except Exception:
        # The database is down at start: the reconciler's loop tries again.
        log.exception("queue.reconciler.failed")
    reconciler.start()
    heartbeat = host.heartbeat("worker")
    heartbeat.start()
    if settings.metrics.worker_port:
        start_http_server(
            settings.metrics.worker_port, addr=settings.server.host, registry=host.exposition
        )
    consumer = build_consumer(host.huey, workers=settings.queue.workers, embedded=False)
    log.info("queue.worker.started", workers=settings.queue.workers, queue=settings.queue.name)
    try:
        consumer.run()
    finally:
        heartbeat.stop()
        reconciler.stop()
        log.info("queue.worker.stopped")
