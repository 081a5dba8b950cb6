"""The /ops page: pipeline health for an admin (signed in, or with an admin API token).

It renders ``ops.html`` through the web app's one template environment (``pages.render``),
from the same summary the ``/api/v1/ops/summary`` endpoint returns."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pegasus.dependencies import AdminDep, RuntimeDep, SessionDep
from pegasus.ops.routes import WindowMinutes, current_summary
from pegasus.routing import UnitOfWorkRoute
from pegasus.web.pages import render

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


@router.get("/ops", response_class=HTMLResponse)
def ops_page(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    window: WindowMinutes = 60,
) -> HTMLResponse:
    summary = current_summary(session, runtime, window)
    return render(request, "ops.html", {"summary": summary})
