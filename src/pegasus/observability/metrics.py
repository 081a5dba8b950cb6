"""Prometheus metrics, built per process in factories (no import-time registry writes).

Counters and histograms are written by whichever process does the work (API or worker).
With ``PEGASUS_METRICS_MULTIPROC_DIR`` set, every process on the machine writes them to
that directory (prometheus-client's multiprocess mode) and ``/metrics`` on the API adds them
all up. Queue depth, oldest queued age, live workers and readiness are read from the
database (and the readiness checks) at scrape time, so they are right whichever process
answers and survive a broker restart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pegasus.db.models import StageName
from pegasus.errors import transient_error_codes
from pegasus.observability.slo import LECTURE_PROCESSING_BUCKETS

#: The ``method`` label of the HTTP metrics: these, or ``other`` for anything a client
#: invents, so no client can add series to ``/metrics``.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
#: The ``route`` label of a request no route matched (any path, one series).
UNMATCHED_ROUTE = "unmatched"

STAGE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
PROCESSING_RATIO_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5)

#: Every metric family Pegasus exports (the dashboard and alert tests check against this).
EXPORTED_METRICS = frozenset(
    {
        "pegasus_queue_depth",
        "pegasus_queue_oldest_age_seconds",
        "pegasus_stage_duration_seconds",
        "pegasus_stage_runs_total",
        "pegasus_stage_retries_total",
        "pegasus_lecture_processing_seconds",
        "pegasus_lecture_processing_ratio",
        "pegasus_lectures_total",
        "pegasus_ingest_requests_total",
        "pegasus_workers_alive",
        "pegasus_ready",
        "pegasus_http_requests_total",
        "pegasus_http_request_duration_seconds",
        "pegasus_sweeper_removed_total",
        "pegasus_retention_audio_deleted_total",
    }
)

#: The ``kind`` label of ``pegasus_sweeper_removed_total``.
SWEPT_KINDS = ("object", "workdir")
#: The ``kind`` label of ``pegasus_retention_audio_deleted_total``: the artifact kinds of a
#: lecture's recording (``pegasus.pipeline.ingest``).
RETAINED_AUDIO_KINDS = ("source", "audio")


def enable_multiprocess(directory: Path) -> None:
    """Make metrics created from now on in this process write to ``directory``.

    Called once per process before ``PipelineMetrics`` is built. prometheus-client reads
    ``PROMETHEUS_MULTIPROC_DIR`` for its file names, so it is set too.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class PipelineMetrics:
    """The counters and histograms Pegasus processes write."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.stage_runs = Counter(
            "pegasus_stage_runs_total",
            "Finished stage runs by outcome (succeeded, failed, retried).",
            ["stage", "outcome"],
            registry=registry,
        )
        self.stage_retries = Counter(
            "pegasus_stage_retries_total",
            "Stage runs that failed transiently and were queued again.",
            ["stage", "error_code"],
            registry=registry,
        )
        self.stage_duration = Histogram(
            "pegasus_stage_duration_seconds",
            "Wall time of one stage run.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.lecture_processing = Histogram(
            "pegasus_lecture_processing_seconds",
            "Seconds from upload to exports ready, for lectures that succeeded.",
            buckets=LECTURE_PROCESSING_BUCKETS,
            registry=registry,
        )
        self.lecture_ratio = Histogram(
            "pegasus_lecture_processing_ratio",
            "Processing seconds per second of audio, for lectures that succeeded.",
            buckets=PROCESSING_RATIO_BUCKETS,
            registry=registry,
        )
        self.lectures = Counter(
            "pegasus_lectures_total",
            "Lectures that finished, by outcome (succeeded, failed).",
            ["outcome"],
            registry=registry,
        )
        self.ingest_requests = Counter(
            "pegasus_ingest_requests_total",
            "Upload requests, by outcome (accepted, rejected).",
            ["outcome"],
            registry=registry,
        )
        self.http_requests = Counter(
            "pegasus_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "pegasus_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            registry=registry,
        )
        self.sweeper_removed = Counter(
            "pegasus_sweeper_removed_total",
            "What the sweeper removed: stored objects no row references (object), scratch "
            "directories of dead workers (workdir).",
            ["kind"],
            registry=registry,
        )
        for kind in SWEPT_KINDS:
            self.sweeper_removed.labels(kind=kind)
        self.retention_audio_deleted = Counter(
            "pegasus_retention_audio_deleted_total",
            "Recordings deleted after their course's retention period, by artifact kind: the "
            "upload (source) and the 16 kHz copy for speech recognition (audio).",
            ["kind"],
            registry=registry,
        )
        for kind in RETAINED_AUDIO_KINDS:
            self.retention_audio_deleted.labels(kind=kind)
        for stage in StageName:  # export zeros so rates exist before the first event
            for outcome in ("succeeded", "failed", "retried"):
                self.stage_runs.labels(stage=stage.value, outcome=outcome)
            self.stage_duration.labels(stage=stage.value)
            for code in transient_error_codes():
                self.stage_retries.labels(stage=stage.value, error_code=code)
        for outcome in ("succeeded", "failed"):
            self.lectures.labels(outcome=outcome)
        for outcome in ("accepted", "rejected"):
            self.ingest_requests.labels(outcome=outcome)

    def observe_http(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one HTTP request. ``route`` is the matched route's template (``None`` when
        none matched); labels come from fixed sets, whatever the client sent."""
        method_label = method if method in HTTP_METHODS else OTHER_METHOD
        route_label = route or UNMATCHED_ROUTE
        self.http_requests.labels(method_label, route_label, str(status)).inc()
        self.http_duration.labels(method_label, route_label).observe(seconds)

    def observe_stage(
        self, stage: str, outcome: str, seconds: float, *, error_code: str | None = None
    ) -> None:
        self.stage_runs.labels(stage=stage, outcome=outcome).inc()
        self.stage_duration.labels(stage=stage).observe(seconds)
        if outcome == "retried" and error_code:
            self.stage_retries.labels(stage=stage, error_code=error_code).inc()

    def observe_lecture(
        self, outcome: str, *, processing_seconds: float, audio_seconds: float | None
    ) -> None:
        self.lectures.labels(outcome=outcome).inc()
        if outcome != "succeeded":
            return
        self.lecture_processing.observe(processing_seconds)
        if audio_seconds:
            self.lecture_ratio.observe(processing_seconds / audio_seconds)


@dataclass(frozen=True)
class QueueStats:
    """What the database says about the queue, per stage, and the live workers."""

    depth: dict[str, int]
    oldest_age_seconds: dict[str, float]
    workers_alive: int


class DatabaseCollector(Collector):
    """Queue depth, oldest queued age and live workers, read from the database per scrape."""

    def __init__(self, stats: Callable[[], QueueStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        try:
            stats = self._stats()
        except Exception:
            return  # the database is down: pegasus_ready says so; no stale numbers here
        depth = GaugeMetricFamily(
            "pegasus_queue_depth", "Stage runs queued and not yet started.", labels=["stage"]
        )
        age = GaugeMetricFamily(
            "pegasus_queue_oldest_age_seconds",
            "Age of the oldest queued stage run that is due (0 when none).",
            labels=["stage"],
        )
        for stage in StageName:
            depth.add_metric([stage.value], stats.depth.get(stage.value, 0))
            age.add_metric([stage.value], stats.oldest_age_seconds.get(stage.value, 0.0))
        yield depth
        yield age
        yield GaugeMetricFamily(
            "pegasus_workers_alive",
            "Worker processes whose heartbeat is fresh.",
            value=stats.workers_alive,
        )


class ReadinessCollector(Collector):
    """``pegasus_ready``: 1 when database, storage and queue answer (cached briefly)."""

    def __init__(self, check: Callable[[], bool], cache_seconds: float = 10.0) -> None:
        self._check = check
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, bool] | None = None

    def collect(self) -> Iterable[Metric]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self._cache_seconds:
            self._cached = (now, self._check())
        yield GaugeMetricFamily(
            "pegasus_ready",
            "1 when the database, storage and queue are reachable.",
            value=1.0 if self._cached[1] else 0.0,
        )


def build_exposition_registry(
    local: CollectorRegistry,
    multiproc_dir: Path | None,
    collectors: Iterable[Collector],
) -> CollectorRegistry:
    """The registry ``/metrics`` renders: this process's metrics (or every process's, in
    multiprocess mode) plus the scrape-time collectors."""
    if multiproc_dir is None:
        registry = local
    else:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    return registry
