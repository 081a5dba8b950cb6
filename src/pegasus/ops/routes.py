"""Ops endpoints: the Alertmanager webhook and the summary API (the /ops page that shows the
same summary is a web page: ``pegasus.web.ops_routes``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from pegasus.db.base import utcnow
from pegasus.dependencies import AdminDep, AlertSenderDep, RuntimeDep, SessionDep
from pegasus.ops import service
from pegasus.ops.schemas import AlertmanagerWebhook, AlertsAccepted, OpsSummary
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
