"""The process's long-lived parts (engine, store, queue, runner), built once from settings.

This is where the layers meet: the pipeline gets what it needs from the feature slices
(the course's preset, the search index, housekeeping jobs) as callables passed in here,
never by importing a slice itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from huey.api import Huey
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.accounts.web_sessions import purge_expired_sessions
from pegasus.config import Settings
from pegasus.courses.service import resolve_preset
from pegasus.db.base import utcnow
from pegasus.db.models import StageRun, StageStatus
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.deletion.purge import purge_due
from pegasus.errors import PegasusError
from pegasus.observability.metrics import (
    DatabaseCollector,
    PipelineMetrics,
    QueueStats,
    ReadinessCollector,
    build_exposition_registry,
    enable_multiprocess,
)
from pegasus.observability.readiness import check_readiness, failing_parts, ping_database
from pegasus.observability.slo import bundled_slo_path, load_slos
from pegasus.ops.service import SloTarget, targets_from_slos
from pegasus.pipeline.base import Stage
from pegasus.pipeline.export import ExportStage
from pegasus.pipeline.generate import GenerateStage, build_kit_generator
from pegasus.pipeline.ingest import IngestStage
from pegasus.pipeline.reconciler import ReconcilerThread
from pegasus.pipeline.retention import AudioRetention
from pegasus.pipeline.runner import StageRunner
from pegasus.pipeline.sweeper import Sweeper
from pegasus.pipeline.transcribe import TranscribeStage, shared_transcriber
from pegasus.queue.dispatch import Dispatcher, HueyDispatcher, build_huey
from pegasus.queue.heartbeat import WorkerHeartbeat, count_alive
from pegasus.search.repository import index_transcript
from pegasus.storage.base import ObjectStore
from pegasus.storage.factory import build_object_store
from pegasus.uploads.service import sweep_expired_uploads

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    """Everything a server or worker process shares; build with ``build_runtime``."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    store: ObjectStore
    huey: Huey
    dispatcher: Dispatcher
    metrics: PipelineMetrics
    exposition: CollectorRegistry
    _runner: StageRunner | None = None
    _slo_targets: tuple[SloTarget, ...] = ()
    _sweeper: Sweeper | None = None
    _retention: AudioRetention | None = None

    def stages(self) -> dict[str, Stage]:
        return build_stages(self.settings)

    @property
    def runner(self) -> StageRunner:
        if self._runner is None:
            self._runner = StageRunner(
                queue=self.settings.queue,
                session_factory=self.session_factory,
                store=self.store,
                dispatcher=self.dispatcher,
                stages=self.stages(),
                metrics=self.metrics,
                resolve_preset=resolve_preset,
                on_transcript=index_transcript,
            )
        return self._runner

    def reconciler(self) -> ReconcilerThread:
        return ReconcilerThread(
            self.session_factory,
            self.dispatcher,
            self.settings.queue,
            utcnow,
            self.metrics,
            housekeeping=[
                self.sweep_expired_uploads,
                self.purge_expired_web_sessions,
                self.sweep_storage,
                self.delete_expired_audio,
                self.purge_deletions,
            ],
        )

    @property
    def sweeper(self) -> Sweeper:
        """The process's one sweeper (it remembers when it last swept)."""
        if self._sweeper is None:
            storage = self.settings.storage
            self._sweeper = Sweeper(
                self.session_factory,
                self.store,
                self.metrics,
                grace=timedelta(hours=storage.sweep_grace_hours),
                interval=timedelta(minutes=storage.sweep_interval_minutes),
            )
        return self._sweeper

    def purge_deletions(self, now: datetime) -> int:
        """Run the due attempts of pending deletions (retried until each completes)."""
        return purge_due(self.session_factory, self.store, now)

    def sweep_storage(self, now: datetime) -> object:
        """Remove stored objects no row references (after the grace period) and dead
        workers' scratch directories, at most once per the sweeper's interval."""
        return self.sweeper(now)

    @property
    def retention(self) -> AudioRetention:
        """The process's one audio retention job (it remembers when it last ran)."""
        if self._retention is None:
            privacy = self.settings.privacy
            self._retention = AudioRetention(
                self.session_factory,
                self.store,
                self.metrics,
                default_days=privacy.audio_retention_days,
                interval=timedelta(minutes=privacy.retention_interval_minutes),
            )
        return self._retention

    def delete_expired_audio(self, now: datetime) -> object:
        """Delete recordings past their course's retention period (the transcript, kit and
        exports stay), at most once per the job's interval."""
        return self.retention(now)

    def purge_expired_web_sessions(self, now: datetime) -> int:
        """Delete browser sessions past their expiry (they no longer sign anybody in)."""
        with unit_of_work(self.session_factory) as session:
            return purge_expired_sessions(session, now=now)

    def sweep_expired_uploads(self, now: datetime) -> int:
        """Remove tus uploads that expired unfinished (bytes, then rows)."""
        return sweep_expired_uploads(self.session_factory, self.store, now)

    def heartbeat(self, kind: str) -> WorkerHeartbeat:
        return WorkerHeartbeat(
            self.session_factory,
            kind=kind,
            interval_seconds=min(self.settings.queue.reconcile_interval_seconds, 15.0),
            clock=utcnow,
        )

    def queue_stats(self) -> QueueStats:
        """Queue depth and oldest due queued run per stage, and live workers, from the DB."""
        now = utcnow()
        with unit_of_work(self.session_factory) as session:
            rows = session.execute(
                select(StageRun.stage, func.count(), func.min(StageRun.available_at))
                .where(StageRun.status == StageStatus.QUEUED)
                .group_by(StageRun.stage)
            ).all()
            alive = count_alive(
                session, now=now, alive_seconds=self.settings.metrics.worker_alive_seconds
            )
        depth = {stage: int(count) for stage, count, _ in rows}
        oldest = {
            stage: max(0.0, (now - _aware(first)).total_seconds())
            for stage, _, first in rows
            if first is not None
        }
        return QueueStats(depth=depth, oldest_age_seconds=oldest, workers_alive=alive)

    def slo_targets(self) -> list[SloTarget]:
        """The SLOs of the SLO file (the bundled ``slo.yaml``) as the ops view counts them."""
        return list(self._slo_targets)

    def readiness(self) -> dict[str, str]:
        return check_readiness(
            {
                "database": lambda: ping_database(self.engine),
                "storage": self.store.check,
                "queue": self.dispatcher.ping,
            }
        )

    def prepare_storage(self) -> None:
        """Check the store at start (creating the bucket when configured to); a store that
        is down is logged, not fatal: /readyz reports it and stages retry."""
        try:
            self.store.check()
        except PegasusError as exc:
            log.warning("storage.unavailable_at_start", code=exc.code, detail=exc.message)

    def close(self) -> None:
        self.engine.dispose()


def build_stages(settings: Settings) -> dict[str, Stage]:
    """The four stages, each given only the settings group it uses (none sees the whole
    ``Settings``: not the database URL, the storage keys or the webhook secret)."""
    return {
        stage.name: stage
        for stage in (
            IngestStage(settings.media),
            TranscribeStage(shared_transcriber(settings.transcription)),
            GenerateStage(build_kit_generator(settings.llm)),
            ExportStage(),
        )
    }


def database_threads(settings: Settings, *, serving: bool) -> int:
    """Threads of this process that may hold a database connection, one each: the request
    threads and the event streams' readers when it serves HTTP, and the queue worker threads
    when it runs them."""
    if not serving:
        return settings.queue.workers
    consumers = settings.queue.workers if settings.server.run_consumer else 0
    return settings.server.threads + settings.server.event_read_threads + consumers


def build_runtime(
    settings: Settings, dispatcher: Dispatcher | None = None, *, serving: bool = False
) -> Runtime:
    """Wire the process's parts together; nothing connects until first used.

    ``dispatcher`` replaces the Huey one (``pegasus process`` runs stages itself);
    ``serving`` sizes the connection pool for the HTTP server's threads as well."""
    engine = build_engine(settings.database, threads=database_threads(settings, serving=serving))
    session_factory = build_session_factory(engine)
    store = build_object_store(settings.storage)
    huey = build_huey(settings.queue)
    multiproc_dir = settings.metrics.multiproc_dir
    if multiproc_dir is not None:
        enable_multiprocess(multiproc_dir)
    local_registry = CollectorRegistry()
    metrics = PipelineMetrics(local_registry)
    holder: dict[str, Runtime] = {}

    def run_stage(stage_run_id: str) -> None:
        holder["runtime"].runner.run(stage_run_id)

    if dispatcher is None:
        dispatcher = HueyDispatcher(huey, run_stage)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        store=store,
        huey=huey,
        dispatcher=dispatcher,
        metrics=metrics,
        exposition=local_registry,
        _slo_targets=_load_slo_targets(settings),
    )
    holder["runtime"] = runtime
    runtime.exposition = build_exposition_registry(
        local_registry,
        multiproc_dir,
        [
            DatabaseCollector(runtime.queue_stats),
            ReadinessCollector(lambda: not failing_parts(runtime.readiness())),
        ],
    )
    return runtime


def _load_slo_targets(settings: Settings) -> tuple[SloTarget, ...]:
    """The configured SLO file's targets, else those of the file shipped in the package."""
    path = settings.ops.slo_file or bundled_slo_path()
    return tuple(targets_from_slos(load_slos(path)))


def _aware(moment: datetime) -> datetime:
    """Aggregates bypass the UTC column type on SQLite and come back naive (UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
