"""Ops endpoints: the Alertmanager webhook, the summary API and the /ops page."""

from __future__ import annotations

import hmac
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pegasus.db.base import utcnow
from pegasus.dependencies import AdminDep, RuntimeDep, SessionDep
from pegasus.errors import AuthenticationError, PermissionDeniedError
from pegasus.ops import service
from pegasus.ops.schemas import AlertmanagerWebhook, AlertsAccepted, OpsSummary
from pegasus.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["ops"])
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "web" / "templates")

WindowMinutes = Annotated[int, Query(ge=5, le=7 * 24 * 60, description="look-back window")]


@router.post("/api/v1/ops/alerts", response_model=AlertsAccepted, summary="Alertmanager webhook")
def receive_alerts(
    body: AlertmanagerWebhook, request: Request, session: SessionDep, runtime: RuntimeDep
) -> AlertsAccepted:
    secret = runtime.settings.ops.alert_webhook_secret
    if secret is None:
        raise PermissionDeniedError(
            "The alert webhook is off: set PEGASUS_OPS_ALERT_WEBHOOK_SECRET(_FILE)."
        )
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = secret.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise AuthenticationError("The alert webhook secret is missing or wrong.")
    return service.record_alerts(session, body, now=utcnow())


def _summary(session: SessionDep, runtime: RuntimeDep, window_minutes: int) -> OpsSummary:
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
    return _summary(session, runtime, window)


@router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
def ops_page(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    window: WindowMinutes = 60,
) -> HTMLResponse:
    summary = _summary(session, runtime, window)
    return templates.TemplateResponse(request, "ops.html", {"summary": summary})
