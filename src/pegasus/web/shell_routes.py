"""The app shell's routes: ``/`` (into the app), ``/offline`` and the service worker."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pegasus import __version__
from pegasus.routing import UnitOfWorkRoute
from pegasus.web.auth import OptionalPageUserDep
from pegasus.web.pages import STATIC_DIR, render

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


@router.get("/")
def index(user: OptionalPageUserDep) -> RedirectResponse:
    """Signed in: the course list; signed out: the log-in page."""
    return RedirectResponse("/courses" if user else "/login", status_code=303)


@router.get("/offline", response_class=HTMLResponse)
def offline(request: Request) -> HTMLResponse:
    """The page the service worker shows when a navigation fails offline (no user data)."""
    return render(request, "offline.html")


@lru_cache(maxsize=1)
def _service_worker_source() -> str:
    source = (STATIC_DIR / "sw.js").read_text(encoding="utf-8")
    # The cache name changes with every release and every change of the shell's files.
    stamp = __version__ + "-" + format(_static_fingerprint(), "x")
    return source.replace("__PEGASUS_VERSION__", stamp)


def _static_fingerprint() -> int:
    total = 0
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            stat = path.stat()
            total = (total * 31 + stat.st_size + int(stat.st_mtime)) % (1 << 48)
    return total


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker, from the root path so that its scope is the whole app."""
    return Response(
        _service_worker_source(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
