"""Ops endpoints: the Alertmanager webhook, the summary API (the /ops page that shows the
same summary is a web page: ``pegasus.web.ops_routes``) and the audit log (admin only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from pegasus.audit import list_events, verify_chain
from pegasus.db.base import utcnow
from pegasus.dependencies import AdminDep, AlertSenderDep, RuntimeDep, SessionDep
from pegasus.ops import service
from pegasus.ops.schemas import (
    AlertmanagerWebhook,
    AlertsAccepted,
    AuditEventOut,
    AuditEventsPage,
    ChainReportOut,
    OpsSummary,
)
from pegasus.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["ops"])

WindowMinutes = Annotated[int, Query(ge=5, le=7 * 24 * 60, description="look-back window")]


@router.post("/api/v1/ops/alerts", response_model=AlertsAccepted, summary="Alertmanager webhook")
def receive_alerts(
    body: AlertmanagerWebhook, _sender: AlertSenderDep, session: SessionDep
) -> AlertsAccepted:
    return service.record_alerts(session, body, now=utcnow())


def current_summary(session: SessionDep, runtime: RuntimeDep, window_minutes: int) -> OpsSummary:
    """The pipeline's health over the last ``window_minutes`` (the API and the /ops page)."""
    return service.build_summary(
        session,
        runtime.queue_stats(),
        now=utcnow(),
        window=timedelta(minutes=window_minutes),
        slos=runtime.slo_targets(),
    )


@router.get("/api/v1/ops/summary", response_model=OpsSummary, summary="Pipeline health")
def ops_summary(
    _admin: AdminDep, session: SessionDep, runtime: RuntimeDep, window: WindowMinutes = 60
) -> OpsSummary:
    return current_summary(session, runtime, window)


AUDIT_PAGE_MAX = 500


@router.get(
    "/api/v1/audit/events",
    response_model=AuditEventsPage,
    tags=["audit"],
    summary="Audit log entries, newest first (admin only); filter by action, actor or subject",
)
def audit_events(
    _admin: AdminDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=AUDIT_PAGE_MAX, description="entries per page")] = 50,
    before_seq: Annotated[
        int | None, Query(ge=1, description="entries older than this seq (the next page)")
    ] = None,
    action: Annotated[str | None, Query(max_length=64, description="only this action")] = None,
    actor_id: Annotated[
        str | None, Query(max_length=36, description="only this actor's user id")
    ] = None,
    subject_id: Annotated[
        str | None, Query(max_length=64, description="only entries about this id")
    ] = None,
) -> AuditEventsPage:
    events = list_events(
        session,
        limit=limit,
        before_seq=before_seq,
        action=action,
        actor_id=actor_id,
        subject_id=subject_id,
    )
    shown = [AuditEventOut.model_validate(e, from_attributes=True) for e in events]
    last = shown[-1].seq if len(shown) == limit else None
    return AuditEventsPage(events=shown, next_before_seq=last)


@router.get(
    "/api/v1/audit/verify",
    response_model=ChainReportOut,
    tags=["audit"],
    summary="Recompute the audit log's hash chain (admin only): intact, or its first broken "
    "link (what `pegasus audit verify` reports)",
)
def audit_verify(_admin: AdminDep, session: SessionDep) -> ChainReportOut:
    return ChainReportOut.model_validate(verify_chain(session).to_json())
