"""Shapes of the Alertmanager webhook and of the ops summary."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field


class AlertmanagerAlert(BaseModel):
    """One alert in an Alertmanager webhook (payload version 4)."""

    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime
    #: Alertmanager's zero time (0001-01-01...) while firing; parsed by the service.
    endsAt: str | None = None
    fingerprint: str = Field(min_length=1, max_length=64)
    generatorURL: str = ""


class AlertmanagerWebhook(BaseModel):
    """The body Alertmanager POSTs to a webhook receiver."""

    version: str = "4"
    status: str
    receiver: str = ""
    alerts: list[AlertmanagerAlert] = Field(max_length=1000)


class AlertsAccepted(BaseModel):
    recorded: int
    firing: int
    resolved: int


class StageHealth(BaseModel):
    stage: str
    state: str  # failing | degraded | ok | idle
    reason: str
    succeeded: int
    failed: int
    retried: int
    failure_ratio: float | None
    p95_seconds: float | None
    queue_depth: int
    oldest_queued_seconds: float
    top_error_code: str | None


class IncidentOut(BaseModel):
    id: str
    alertname: str
    status: str
    severity: str
    stage: str | None
    summary: str
    runbook_url: str
    starts_at: datetime
    ends_at: datetime | None
    updated_at: datetime


class FailedLecture(BaseModel):
    id: str
    title: str
    stage: str
    error_code: str | None
    error_message: str | None
    finished_at: datetime | None


class SloBudget(BaseModel):
    name: str
    target: float
    sli: float | None
    budget_remaining: float | None
    events: int


class OpsSummary(BaseModel):
    generated_at: datetime
    window_minutes: int
    failing_stages: list[str]
    stages: list[StageHealth]
    workers_alive: int
    slos: list[SloBudget]
    incidents: list[IncidentOut]
    failed_lectures: list[FailedLecture]


class AuditEventOut(BaseModel):
    """One audit log entry (ids only: the log never holds an email or a name)."""

    seq: int
    occurred_at: datetime
    action: str
    actor_id: str | None
    subject_type: str
    subject_id: str | None
    details: dict[str, str | int | float | bool | None]
    prev_hash: str
    hash: str


class AuditEventsPage(BaseModel):
    """A page of audit entries, newest first."""

    events: list[AuditEventOut]
    #: Pass as ``before_seq`` for the next (older) page; null on the last page.
    next_before_seq: int | None


class ChainReportOut(BaseModel):
    """``pegasus audit verify``'s report: intact, or the first broken link and why."""

    checked: int
    ok: bool
    first_broken_seq: int | None
    reason: str
    head_seq: int
    head_hash: str
