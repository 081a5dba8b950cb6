"""HTML answers for errors met by a browser's page form (``app.py`` decides when to use them).

A form posted by a browser asks for HTML (``Accept: text/html,...``); answering such a post
with Pegasus's JSON error body leaves the learner looking at raw JSON. ``wants_html`` says when
a request prefers HTML to JSON; ``csrf_failed_page`` is the page for ``auth.csrf`` (a form left
open too long, or one from another tab). API clients keep the JSON body.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import structlog
from fastapi import Request
from fastapi.responses import HTMLResponse

from pegasus.errors import CsrfError
from pegasus.web.auth import safe_next
from pegasus.web.messages import message_for
from pegasus.web.pages import render

log = structlog.get_logger(__name__)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_JSON_TYPES = ("application/json",)


def _accept_weights(header: str) -> dict[str, float]:
    """``{media type: q}`` of an Accept header; the highest q where a type repeats."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        if not media_type:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        key = media_type.lower()
        weights[key] = max(weights.get(key, 0.0), quality)
    return weights


def wants_html(request: Request) -> bool:
    """Whether the request names HTML in its Accept header and prefers it to JSON.

    Wildcards (``*/*``) count for neither: a client that names no type (httpx, curl,
    ``fetch`` without headers) keeps the API's JSON; a browser navigation or form post
    (``text/html,application/xhtml+xml,...``) gets a page."""
    weights = _accept_weights(request.headers.get("accept", ""))
    html = max((weights.get(t, 0.0) for t in _HTML_TYPES), default=0.0)
    json = max(
        (weights.get(t, 0.0) for t in (*_JSON_TYPES, "application/*")),
        default=0.0,
    )
    return html > 0.0 and html > json


def _back_link(request: Request) -> str | None:
    """The page the form came from (this site's ``Referer``), to load it afresh; else None."""
    referer = request.headers.get("referer", "")
    if not referer:
        return None
    parts = urlsplit(referer)
    if parts.netloc.lower() != request.url.netloc.lower():
        return None  # another site's page: never link back to it
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    back = safe_next(path, default="")
    return back or None


def csrf_failed_page(request: Request, exc: CsrfError) -> HTMLResponse:
    """403 page for a form whose CSRF token is missing or stale: what happened and what to
    do, in the words of ``auth.csrf``'s learner message, with a link that loads the form's
    page again (a fresh token) or, when unknown, the course list."""
    log.info("web.csrf_refused", path=request.url.path, method=request.method)
    back = _back_link(request)
    return render(
        request,
        "csrf_failed.html",
        {"message": message_for(exc.code), "back": back or "/courses", "back_is_form": bool(back)},
        status_code=403,
    )
