"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pegasus.dependencies import RuntimeDep
from pegasus.errors import error_body
from pegasus.middleware import request_id
from pegasus.observability.readiness import failing_parts
from pegasus.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database, storage and queue are reachable")
def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    checks = runtime.readiness()
    failing = failing_parts(checks)
    if failing:
        message = f"Not ready: {', '.join(failing)} unreachable."
        return JSONResponse(
            status_code=503,
            content={
                "status": "unavailable",
                "checks": checks,
                **error_body("service.unavailable", message, request_id(request.scope)),
            },
        )
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.exposition), media_type=CONTENT_TYPE_LATEST)
