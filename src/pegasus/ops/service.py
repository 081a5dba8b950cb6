"""Ops rules: recording Alertmanager incidents and judging each stage's health."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import structlog
from sqlalchemy.orm import Session

from pegasus.db.models import Incident, Lecture, StageName, StageRun, StageStatus
from pegasus.observability.metrics import QueueStats
from pegasus.observability.slo import Slo
from pegasus.ops import repository
from pegasus.ops.schemas import (
    AlertmanagerWebhook,
    AlertsAccepted,
    FailedLecture,
    IncidentOut,
    OpsSummary,
    SloBudget,
    StageHealth,
)
from pegasus.pipeline.queries import latest_runs

log = structlog.get_logger(__name__)

#: A stage is failing when at least this many runs failed for good in the window...
FAILING_MIN_FAILURES = 3
#: ...and they are at least this share of its finished runs (or an alert names it).
FAILING_RATIO = 0.5
DEGRADED_RATIO = 0.1
DEGRADED_QUEUE_AGE_SECONDS = 900.0
SLO_WINDOW = timedelta(days=30)
_STAGE_SELECTOR = re.compile(r'stage="([a-z]+)"')


@dataclass(frozen=True)
class SloTarget:
    """What the ops view needs of an SLO: its name, target and how to count its events.

    ``stage`` set: the share of that stage's final outcomes that succeeded.
    ``threshold_seconds`` set: the share of succeeded lectures processed within it.
    """

    name: str
    target: float
    stage: str | None = None
    threshold_seconds: float | None = None


def targets_from_slos(slos: Sequence[Slo]) -> list[SloTarget]:
    """How /ops counts each declared SLO from the database: latency SLOs by their
    threshold, success SLOs by the stage their SLI selects."""
    targets = []
    for slo in slos:
        if slo.sli.threshold is not None:
            targets.append(
                SloTarget(slo.name, slo.target, threshold_seconds=slo.sli.threshold.le_seconds)
            )
            continue
        match = _STAGE_SELECTOR.search(slo.sli.good)
        if match is not None:
            targets.append(SloTarget(slo.name, slo.target, stage=match.group(1)))
    return targets


def record_alerts(
    session: Session, webhook: AlertmanagerWebhook, *, now: datetime
) -> AlertsAccepted:
    """Upsert one incident per alert episode (fingerprint + start); resolved ones close."""
    firing = resolved = 0
    for alert in webhook.alerts:
        incident = repository.incident_by_key(session, alert.fingerprint, alert.startsAt)
        if incident is None:
            incident = Incident(
                fingerprint=alert.fingerprint, starts_at=alert.startsAt, received_at=now
            )
            session.add(incident)
        incident.alertname = alert.labels.get("alertname", "unnamed")[:200]
        incident.status = alert.status
        incident.severity = alert.labels.get("severity", "")[:32]
        stage = alert.labels.get("stage")
        incident.stage = stage if stage in {s.value for s in StageName} else None
        incident.summary = alert.annotations.get("summary", "")
        incident.runbook_url = safe_link(alert.annotations.get("runbook_url", ""))
        incident.labels = dict(alert.labels)
        incident.annotations = dict(alert.annotations)
        ends = _ends_at(alert.endsAt)
        incident.ends_at = ends if alert.status == "resolved" else None
        incident.updated_at = now
        if alert.status == "firing":
            firing += 1
        else:
            resolved += 1
        log.info(
            "ops.alert.received",
            alertname=incident.alertname,
            status=alert.status,
            stage=incident.stage,
            severity=incident.severity,
        )
    session.flush()
    return AlertsAccepted(recorded=len(webhook.alerts), firing=firing, resolved=resolved)


def safe_link(url: str, max_chars: int = 500) -> str:
    """``url`` when it is an absolute http(s) URL that fits in ``max_chars``, else ``""``:
    the ops page renders it as a link, so ``javascript:`` or ``data:`` must never get there."""
    url = url.strip()
    if len(url) > max_chars or any(not ch.isprintable() or ch.isspace() for ch in url):
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return url


def _ends_at(value: str | None) -> datetime | None:
    """Alertmanager's endsAt: None for its zero time (firing) or anything unparsable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None or moment.year < 1970:
            return None
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def build_summary(
    session: Session,
    stats: QueueStats,
    *,
    now: datetime,
    window: timedelta,
    slos: Sequence[SloTarget],
) -> OpsSummary:
    """Everything the /ops page shows, computed from the database."""
    runs = repository.finished_runs_since(session, now - window)
    retried = repository.retried_run_ids(session, runs)
    firing = repository.firing_incidents(session)
    alerted = {i.stage for i in firing if i.stage}
    stages = [
        _stage_health(
            stage.value, [r for r in runs if r.stage == stage.value], retried, stats, alerted
        )
        for stage in StageName
    ]
    return OpsSummary(
        generated_at=now,
        window_minutes=int(window.total_seconds() // 60),
        failing_stages=[s.stage for s in stages if s.state == "failing"],
        stages=stages,
        workers_alive=stats.workers_alive,
        slos=[_slo_budget(session, slo, now) for slo in slos],
        incidents=[
            IncidentOut.model_validate(i, from_attributes=True)
            for i in repository.recent_incidents(session, 20)
        ],
        failed_lectures=[
            _failed(lecture) for lecture in repository.recent_failed_lectures(session, 20)
        ],
    )


def _stage_health(
    stage: str,
    runs: Sequence[StageRun],
    retried_ids: set[str],
    stats: QueueStats,
    alerted: set[str],
) -> StageHealth:
    succeeded = sum(1 for r in runs if r.status == StageStatus.SUCCEEDED)
    retried = sum(1 for r in runs if r.id in retried_ids)
    failures = [r for r in runs if r.status == StageStatus.FAILED and r.id not in retried_ids]
    failed = len(failures)
    final = succeeded + failed
    ratio = failed / final if final else None
    codes = Counter(r.error_code for r in failures if r.error_code)
    top_code = codes.most_common(1)[0][0] if codes else None
    durations = sorted(
        (r.finished_at - r.started_at).total_seconds()
        for r in runs
        if r.finished_at and r.started_at
    )
    depth = stats.depth.get(stage, 0)
    age = stats.oldest_age_seconds.get(stage, 0.0)
    if stage in alerted:
        state, reason = "failing", "an alert is firing for this stage"
    elif ratio is not None and failed >= FAILING_MIN_FAILURES and ratio >= FAILING_RATIO:
        state, reason = "failing", f"{failed} of {final} runs failed"
    elif (ratio is not None and failed and ratio >= DEGRADED_RATIO) or retried >= 3:
        state, reason = "degraded", f"{failed} failed, {retried} retried"
    elif age >= DEGRADED_QUEUE_AGE_SECONDS:
        state, reason = "degraded", f"oldest queued run waited {age:.0f} s"
    elif not runs and not depth:
        state, reason = "idle", "no runs in the window"
    else:
        state, reason = "ok", f"{succeeded} succeeded"
    return StageHealth(
        stage=stage,
        state=state,
        reason=reason,
        succeeded=succeeded,
        failed=failed,
        retried=retried,
        failure_ratio=ratio,
        p95_seconds=_nearest_rank(durations, 0.95),
        queue_depth=depth,
        oldest_queued_seconds=age,
        top_error_code=top_code,
    )


def _nearest_rank(sorted_values: Sequence[float], quantile: float) -> float | None:
    if not sorted_values:
        return None
    index = max(0, math.ceil(quantile * len(sorted_values)) - 1)
    return sorted_values[index]


def _slo_budget(session: Session, slo: SloTarget, now: datetime) -> SloBudget:
    since = now - SLO_WINDOW
    if slo.stage is not None:
        good, failed = repository.final_outcome_counts(session, slo.stage, since)
        total = good + failed
    else:
        threshold = slo.threshold_seconds or 0.0
        lectures = [
            lec
            for lec in repository.lectures_finished_since(session, since)
            if lec.status == "succeeded" and lec.finished_at
        ]
        good = sum(
            1
            for lec in lectures
            if lec.finished_at and (lec.finished_at - lec.created_at).total_seconds() <= threshold
        )
        total = len(lectures)
    if not total:
        return SloBudget(
            name=slo.name, target=slo.target, sli=None, budget_remaining=None, events=0
        )
    sli = good / total
    remaining = 1 - (1 - sli) / (1 - slo.target)
    return SloBudget(
        name=slo.name, target=slo.target, sli=sli, budget_remaining=remaining, events=total
    )


def _failed(lecture: Lecture) -> FailedLecture:
    newest = latest_runs(lecture)
    failed = [r for r in newest.values() if r.status == StageStatus.FAILED]
    run = failed[0] if failed else None
    return FailedLecture(
        id=lecture.id,
        title=lecture.title,
        stage=run.stage if run else "",
        error_code=run.error_code if run else None,
        error_message=run.error_message if run else None,
        finished_at=lecture.finished_at,
    )
