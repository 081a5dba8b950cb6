"""The reconciler: the database, not the broker, decides what still has to run.

A message can be lost (broker restart, worker killed mid-task). Periodically, every worker
(and the embedded server) runs ``reconcile``:
- running stage runs whose lease expired are failed with ``worker.lost`` (transient), which
  queues a new attempt through the normal retry path, or fails the lecture when attempts
  are used up;
- queued stage runs that are due and were last sent more than ``requeue_after_seconds``
  ago (or never) are sent again. Duplicate messages are harmless: only one claim succeeds.

It belongs to the pipeline, not the queue, because it moves stage runs through the
pipeline's transitions; the queue below it only sends. Its log events keep the
``queue.reconciler.*`` names that the runbooks and dashboards search for.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import QueueSettings
from pegasus.db.models import StageRun, StageStatus
from pegasus.db.session import after_commit, unit_of_work
from pegasus.errors import WorkerLostError
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline import transitions
from pegasus.queue.dispatch import Dispatcher

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReconcileReport:
    lost: int
    resent: int
    lectures_failed: int = 0


def reconcile(
    session: Session,
    dispatcher: Dispatcher,
    *,
    now: datetime,
    settings: QueueSettings,
    rng: random.Random,
) -> ReconcileReport:
    """One pass; works in the caller's transaction, sends after its commit."""
    expired = session.scalars(
        select(StageRun)
        .where(StageRun.status == StageStatus.RUNNING, StageRun.lease_expires_at < now)
        .with_for_update(skip_locked=True)
    ).all()
    lost = 0
    lectures_failed = 0
    for run in expired:
        outcome = transitions.record_failure(
            session,
            dispatcher,
            run,
            WorkerLostError(),
            worker_id=None,
            now=now,
            settings=settings,
            rng=rng,
        )
        if outcome is not None:
            lost += 1
            lectures_failed += int(outcome.lecture_failed)
            log.warning(
                "queue.reconciler.lease_expired",
                lecture_id=run.lecture_id,
                stage=run.stage,
                attempt=run.attempt,
                retried=outcome.retry is not None,
            )
    cutoff = now - timedelta(seconds=settings.requeue_after_seconds)
    stale = session.scalars(
        select(StageRun)
        .where(
            StageRun.status == StageStatus.QUEUED,
            StageRun.available_at <= now,
            or_(StageRun.enqueued_at.is_(None), StageRun.enqueued_at < cutoff),
        )
        .with_for_update(skip_locked=True)
    ).all()
    for run in stale:
        run.enqueued_at = now
        after_commit(session, functools.partial(dispatcher.send, run.id))
        log.info(
            "queue.reconciler.resent",
            lecture_id=run.lecture_id,
            stage=run.stage,
            attempt=run.attempt,
        )
    return ReconcileReport(lost=lost, resent=len(stale), lectures_failed=lectures_failed)


class ReconcilerThread:
    """Runs ``reconcile`` every ``reconcile_interval_seconds`` until stopped."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        dispatcher: Dispatcher,
        settings: QueueSettings,
        clock: Callable[[], datetime],
        metrics: PipelineMetrics | None = None,
        housekeeping: Sequence[Callable[[datetime], object]] = (),
    ) -> None:
        """``housekeeping``: jobs run after every pass with the time (such as removing
        expired uploads, which the composition root passes in); a failing one is logged."""
        self._metrics = metrics
        self._housekeeping = tuple(housekeeping)
        self._session_factory = session_factory
        self._dispatcher = dispatcher
        self._settings = settings
        self._clock = clock
        self._rng = random.Random()  # nosec B311  # jitter, not a secret
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self) -> ReconcileReport:
        with unit_of_work(self._session_factory) as session:
            report = reconcile(
                session,
                self._dispatcher,
                now=self._clock(),
                settings=self._settings,
                rng=self._rng,
            )
        if self._metrics is not None and report.lectures_failed:
            self._metrics.lectures.labels(outcome="failed").inc(report.lectures_failed)
        for job in self._housekeeping:
            try:
                job(self._clock())
            except Exception:
                log.exception("queue.reconciler.housekeeping_failed")
        return report

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.reconcile_interval_seconds):
            try:
                self.run_once()
            except Exception:
                log.exception("queue.reconciler.failed")
