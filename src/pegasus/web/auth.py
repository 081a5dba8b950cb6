"""Page authentication: ``PageUserDep`` (signed in, else a redirect to /login) and the
cookie helpers the sign-in routes use.

A page route declares ``user: PageUserDep``. Signed out (no cookie, an unknown or expired
session) the browser is sent to ``/login?next=<this page>`` (303); an HTML page is never
answered with a 401. For POST/PUT/PATCH/DELETE the form field ``csrf_token`` (or the header
``X-CSRF-Token``) must equal the session's token, else 403 ``auth.csrf``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from pegasus.accounts.web_sessions import SESSION_COOKIE, NewWebSession
from pegasus.db.models import User
from pegasus.dependencies import CsrfFieldDep, RuntimeDep, SessionDep, session_cookie_user
from pegasus.web.pages import is_https


class SignInRequiredError(Exception):
    """Raised by ``page_user`` when nobody is signed in; ``app.py`` answers with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(value: str | None, default: str = "/courses") -> str:
    """``value`` if it is a path on this site (``/x``), else ``default``: never another host
    (``//evil``, ``/\\evil``, ``https://evil``) and never a header-splitting character."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ch in value for ch in "\r\n\t\\") or not value.isprintable():
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


def page_user(
    request: Request, session: SessionDep, runtime: RuntimeDep, form_token: CsrfFieldDep
) -> User:
    """The user signed in with the session cookie; signed out -> redirect to /login."""
    user = session_cookie_user(request, session, runtime, form_token)
    if user is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(here if request.method == "GET" else request.url.path)
    return user


def optional_page_user(
    request: Request, session: SessionDep, runtime: RuntimeDep, form_token: CsrfFieldDep
) -> User | None:
    """The signed-in user, or None; the CSRF rule applies as for ``page_user``."""
    return session_cookie_user(request, session, runtime, form_token)


PageUserDep = Annotated[User, Depends(page_user)]
OptionalPageUserDep = Annotated[User | None, Depends(optional_page_user)]


async def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """Exception handler for ``SignInRequiredError``: 303 to the log-in page."""
    next_path = exc.next_path if isinstance(exc, SignInRequiredError) else "/courses"
    response = RedirectResponse(login_url(next_path), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def set_session_cookie(
    request: Request, response: Response, new: NewWebSession, max_age_seconds: int
) -> None:
    """Put a new sign-in into the browser: HttpOnly, SameSite=Lax, Path=/, Secure on HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )
