"""Rendering pages: one Jinja2 environment for ``web/templates`` and ``render()``.

A page route resolves the signed-in user with ``PageUserDep`` (``pegasus.web.auth``), which
leaves the user and the session's CSRF token on ``request.state``; ``render`` puts both into
every template as ``user`` and ``csrf_token``. A signed-out page (log in, sign up) gets an
anonymous CSRF token kept in the ``pegasus_csrf`` cookie (double submit), so even the log-in
form is protected against cross-site posts.
"""

from __future__ import annotations

import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

#: The pages' package data, shipped in the wheel: templates/ and static/.
WEB_DIR = Path(str(resources.files("pegasus.web")))
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

#: Cookie of the signed-out CSRF token (log-in and sign-up forms).
ANON_CSRF_COOKIE = "pegasus_csrf"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly, or through a trusted proxy)."""
    if request.url.scheme == "https":
        return True
    runtime = getattr(request.app.state, "runtime", None)
    trusted = bool(runtime and runtime.settings.accounts.trust_forwarded_proto)
    return trusted and request.headers.get("x-forwarded-proto", "").lower() == "https"


def anonymous_csrf_token(request: Request) -> tuple[str, bool]:
    """The signed-out CSRF token from its cookie, or a new one; and whether it is new."""
    existing = request.cookies.get(ANON_CSRF_COOKIE, "")
    if 20 <= len(existing) <= 100 and existing.isascii():
        return existing, False
    return secrets.token_urlsafe(32), True


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` with ``context`` plus ``user`` (or None) and ``csrf_token``.

    Pages are never stored by shared caches (``Cache-Control: no-store``): they may hold the
    learner's data."""
    user = getattr(request.state, "user", None)
    csrf_token: str | None = getattr(request.state, "csrf_token", None)
    new_anonymous = False
    if csrf_token is None:
        csrf_token, new_anonymous = anonymous_csrf_token(request)
    values = {"user": user, "csrf_token": csrf_token, **(context or {})}
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if new_anonymous:
        response.set_cookie(
            ANON_CSRF_COOKIE,
            csrf_token,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
            path="/",
        )
    return response


def clock(seconds: float) -> str:
    """``seconds`` as ``m:ss``, or ``h:mm:ss`` from an hour on (as flow-format.js's clock)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
