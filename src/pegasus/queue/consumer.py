"""Running Huey consumers: a standalone worker process, or threads inside the server."""

from __future__ import annotations

import structlog
from huey.consumer import Consumer
from prometheus_client import start_http_server

from pegasus.runtime import Runtime

log = structlog.get_logger(__name__)


class _QuietConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves signal handling to its host process (uvicorn)."""

    def _set_signal_handlers(self) -> None:
        return None


class EmbeddedWorkers:
    """Queue worker threads plus the reconciler, inside `pegasus serve` (embedded mode)."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings.queue
        self._consumer = _QuietConsumer(
            runtime.huey,
            workers=settings.workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.1,
            max_delay=1.0,
            shutdown_timeout=10,
        )
        self._reconciler = runtime.reconciler()
        self._heartbeat = runtime.heartbeat("embedded")

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


def run_worker(runtime: Runtime) -> None:
    """Block running a Huey consumer and the reconciler until SIGINT/SIGTERM."""
    settings = runtime.settings.queue
    runtime.prepare_storage()
    reconciler = runtime.reconciler()
    reconciler.run_once()  # pick up what was lost while no worker ran
    reconciler.start()
    heartbeat = runtime.heartbeat("worker")
    heartbeat.start()
    if runtime.settings.metrics.worker_port:
        start_http_server(
            runtime.settings.metrics.worker_port, addr="0.0.0.0", registry=runtime.exposition
        )
    consumer = runtime.huey.create_consumer(
        workers=settings.workers,
        worker_type="thread",
        periodic=False,
        initial_delay=0.1,
        max_delay=1.0,
    )
    log.info("queue.worker.started", workers=settings.workers, queue=runtime.settings.queue.name)
    try:
        consumer.run()
    finally:
        heartbeat.stop()
        reconciler.stop()
        log.info("queue.worker.stopped")
