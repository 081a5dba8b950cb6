"""FastAPI dependencies: the runtime, the request's unit of work, the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from pegasus.accounts.service import authenticate_token
from pegasus.accounts.web_sessions import SESSION_COOKIE, authenticate_session, csrf_matches
from pegasus.db.base import utcnow
from pegasus.db.models import User
from pegasus.db.session import unit_of_work
from pegasus.errors import AuthenticationError, CsrfError, PermissionDeniedError
from pegasus.ops.webhook import check_alert_sender
from pegasus.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """The request's unit of work: commits when the endpoint returns, before the response."""
    with unit_of_work(runtime.session_factory) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


async def csrf_form_field(request: Request) -> str | None:
    """The ``csrf_token`` field of a form posted with a session cookie and no CSRF header.

    Read only when it is needed (Starlette keeps the parsed form for the route)."""
    if (
        request.method not in UNSAFE_METHODS
        or CSRF_HEADER in request.headers
        or SESSION_COOKIE not in request.cookies
    ):
        return None
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    value = (await request.form()).get(CSRF_FIELD)
    return value if isinstance(value, str) else None


CsrfFieldDep = Annotated[str | None, Depends(csrf_form_field)]


def session_cookie_user(
    request: Request, session: Session, runtime: Runtime, form_token: str | None
) -> User | None:
    """The user signed in with the ``pegasus_session`` cookie, or None (no cookie, unknown or
    expired session). For an unsafe method the CSRF token must come with it (header
    ``X-CSRF-Token`` or form field ``csrf_token``), else ``CsrfError``. Leaves ``user`` and
    ``csrf_token`` on ``request.state`` for the page renderer."""
    token = request.cookies.get(SESSION_COOKIE, "")
    lifetime = timedelta(days=runtime.settings.accounts.session_days)
    found = authenticate_session(session, token, now=utcnow(), lifetime=lifetime)
    if found is None:
        return None
    user = found.user
    csrf_token = found.csrf_token
    session.commit()
    if request.method in UNSAFE_METHODS:
        given = request.headers.get(CSRF_HEADER) or form_token
        if not csrf_matches(csrf_token, given):
            raise CsrfError()
    request.state.user = user
    request.state.csrf_token = csrf_token
    return user


def current_user(
    request: Request, session: SessionDep, runtime: RuntimeDep, form_token: CsrfFieldDep
) -> User:
    """The user whose bearer token came with the request, else the browser's session cookie.

    A bearer header decides alone (unchanged API behaviour). With the cookie, an unsafe
    method needs the session's CSRF token (403 ``auth.csrf`` otherwise).

    Authentication reads, and at most every few minutes writes, in the request's own session,
    then commits: the request keeps one pooled connection and never waits for a second while
    holding it, and the token write never holds SQLite's write lock for the rest of the
    request (an upload, say). The route's work starts in a fresh transaction."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError()
        user = authenticate_token(session, token.strip(), now=utcnow())
        session.commit()
        return user
    cookie_user = session_cookie_user(request, session, runtime, form_token)
    if cookie_user is None:
        raise AuthenticationError()
    return cookie_user


UserDep = Annotated[User, Depends(current_user)]


def admin_user(user: UserDep) -> User:
    """The signed-in user, who must be an admin."""
    if not user.is_admin:
        raise PermissionDeniedError("Only an admin can see this page.")
    return user


AdminDep = Annotated[User, Depends(admin_user)]


def alert_sender(request: Request, runtime: RuntimeDep) -> None:
    """Admits the Alertmanager webhook's caller: the shared bearer secret (401/403 otherwise),
    checked before the body is read into the database."""
    ops = runtime.settings.ops
    check_alert_sender(
        request.headers.get("authorization"),
        ops.alert_webhook_secret,
        ops.alert_webhook_secret_previous,
    )


AlertSenderDep = Annotated[None, Depends(alert_sender)]
