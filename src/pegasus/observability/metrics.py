"""Prometheus metrics, built per process in factories (no import-time registry writes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pegasus.db.models import StageName

STAGE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class PipelineMetrics:
    """Stage outcomes and durations, and HTTP request counts, on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
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

    def observe_stage(
        self, stage: str, outcome: str, seconds: float, *, error_code: str | None = None
    ) -> None:
        self.stage_runs.labels(stage=stage, outcome=outcome).inc()
        self.stage_duration.labels(stage=stage).observe(seconds)
        if outcome == "retried" and error_code:
            self.stage_retries.labels(stage=stage, error_code=error_code).inc()


class QueueDepthCollector(Collector):
    """``pegasus_queue_depth{stage}`` read from the database at scrape time."""

    def __init__(self, depth: Callable[[], dict[str, int]]) -> None:
        self._depth = depth

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "pegasus_queue_depth", "Stage runs queued and not yet started.", labels=["stage"]
        )
        try:
            counts = self._depth()
        except Exception:
            return
        for stage in StageName:
            family.add_metric([stage.value], counts.get(stage.value, 0))
        yield family
