"""Accounts in the browser: log in, log out, sign up (closed / invite / open). The account
page is in ``account_routes``.

Signed-out forms carry the anonymous CSRF token (cookie ``pegasus_csrf`` + field
``csrf_token``); signed-in forms carry the session's token, checked by ``PageUserDep``.

Sign-in is rate limited per account and per client address
(``pegasus.accounts.sign_in_limits``): over the limit the form answers 429 with
``Retry-After`` and says how long to wait; a disabled account's right password answers 403.
Every successful sign-in starts a new session (the id rotates) and ends the browser's old one.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pegasus.accounts import invitations, self_service
from pegasus.accounts.service import MIN_PASSWORD_LENGTH, VIA_SIGNUP, create_user
from pegasus.accounts.web_sessions import (
    REPLACED,
    SESSION_COOKIE,
    csrf_matches,
    end_session,
    start_session,
)
from pegasus.db.base import utcnow
from pegasus.db.models import Invitation, User
from pegasus.dependencies import RuntimeDep, SessionDep
from pegasus.errors import (
    AccountDisabledError,
    InvalidRequestError,
    InvitationInvalidError,
    PegasusError,
    SignInRateLimitedError,
    UserExistsError,
)
from pegasus.routing import UnitOfWorkRoute
from pegasus.runtime import Runtime
from pegasus.web.auth import (
    OptionalPageUserDep,
    clear_session_cookie,
    safe_next,
    set_session_cookie,
)
from pegasus.web.messages import message_for
from pegasus.web.pages import ANON_CSRF_COOKIE, render

log = structlog.get_logger(__name__)
router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FormStr = Annotated[str, Form()]
Errors = list[dict[str, str | None]]


def _error(field: str | None, message: str) -> dict[str, str | None]:
    return {"field": field, "message": message}


def _anonymous_csrf_ok(request: Request, given: str) -> bool:
    return csrf_matches(request.cookies.get(ANON_CSRF_COOKIE, ""), given)


STALE_FORM = (
    "This form was open too long or cookies are blocked. Make sure cookies are allowed "
    "for this site, then try again."
)


def _sign_in(
    request: Request, response: Response, session: Session, runtime: Runtime, user: User
) -> None:
    """Start a new session for ``user`` (ending the browser's old one: the id rotates)."""
    end_session(session, request.cookies.get(SESSION_COOKIE, ""), reason=REPLACED)
    lifetime = timedelta(days=runtime.settings.accounts.session_days)
    new = start_session(
        session,
        user,
        now=utcnow(),
        lifetime=lifetime,
        user_agent=request.headers.get("user-agent"),
    )
    set_session_cookie(request, response, new, int(lifetime.total_seconds()))
    log.info("web.signed_in", user_id=user.id)


def client_address(request: Request) -> str | None:
    """The browser's address (a trusted proxy's X-Forwarded-For is applied by the server)."""
    return request.client.host if request.client else None


def refusal_text(error: PegasusError) -> str:
    """What the sign-in and sign-up forms say when the sign-in itself is refused: the
    learner's message for the code, with the wait when there is one."""
    message = message_for(error.code)
    parts = [message.happened]
    if isinstance(error, SignInRateLimitedError):
        minutes = max(1, math.ceil(error.retry_after_seconds / 60))
        parts.append(f"You can try again in {minutes} minute{'s' if minutes != 1 else ''}.")
    parts.append(message.todo)
    return " ".join(parts)


def refused(response: HTMLResponse, error: PegasusError) -> HTMLResponse:
    """``response`` with ``Retry-After`` when ``error`` is a rate limit."""
    if isinstance(error, SignInRateLimitedError):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


#: The status of a refused sign-in.
REFUSAL_STATUS: dict[type[PegasusError], int] = {
    SignInRateLimitedError: 429,
    AccountDisabledError: 403,
}


# --- log in / log out ---------------------------------------------------------------------


def _login_page(
    request: Request,
    runtime: Runtime,
    *,
    next_path: str,
    email: str = "",
    errors: Errors | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "next_path": next_path,
        "email": email,
        "errors": errors or [],
        "notice": notice,
        "signup_mode": runtime.settings.accounts.signup,
    }
    return render(request, "login.html", context, status_code=status_code)


@router.get("/login", response_model=None)
def login_form(
    request: Request,
    runtime: RuntimeDep,
    user: OptionalPageUserDep,
    next: Annotated[str | None, Query()] = None,
    signed_out: Annotated[int, Query()] = 0,
) -> Response:
    """The log-in form; someone already signed in goes straight on."""
    next_path = safe_next(next)
    if user is not None:
        return RedirectResponse(next_path, status_code=303)
    notice = "You are signed out." if signed_out else None
    return _login_page(request, runtime, next_path=next_path, notice=notice)


@router.post("/login", response_model=None)
def login(  # nosec B107  # "" is a form field the browser left out, never a secret
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    email: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "",
) -> Response:
    """Check the email and password; on success a new session and a 303 to ``next``."""
    next_path = safe_next(next)
    errors: Errors = []
    if not _anonymous_csrf_ok(request, csrf_token):
        errors.append(_error(None, STALE_FORM))
    if not email.strip():
        errors.append(_error("email", "Enter your email address"))
    if not password:
        errors.append(_error("password", "Enter your password"))
    if errors:
        return _login_page(
            request, runtime, next_path=next_path, email=email, errors=errors, status_code=400
        )
    try:
        user = self_service.sign_in(
            session, email, password, address=client_address(request), now=utcnow()
        )
    except (SignInRateLimitedError, AccountDisabledError) as exc:
        log.warning("web.sign_in_refused", code=exc.code)
        page = _login_page(
            request,
            runtime,
            next_path=next_path,
            email=email,
            errors=[_error(None, refusal_text(exc))],
            status_code=REFUSAL_STATUS[type(exc)],
        )
        return refused(page, exc)
    if user is None:
        log.info("web.sign_in_failed")
        errors = [_error("email", "The email address or the password is not right")]
        return _login_page(
            request, runtime, next_path=next_path, email=email, errors=errors, status_code=401
        )
    response = RedirectResponse(next_path, status_code=303)
    _sign_in(request, response, session, runtime, user)
    return response


@router.post("/logout", response_model=None)
def logout(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: OptionalPageUserDep,
) -> Response:
    """End this browser's session (CSRF-checked by ``OptionalPageUserDep``)."""
    end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    clear_session_cookie(request, response)
    if user is not None:
        log.info("web.signed_out", user_id=user.id)
    return response


# --- sign up ------------------------------------------------------------------------------


def _signup_page(
    request: Request,
    *,
    invite: str = "",
    email: str = "",
    errors: Errors | None = None,
    blocked: str | None = None,
    invitation_for_admin: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    heading = "Create your account"
    if blocked:
        heading = "You cannot create an account here"
    context: dict[str, Any] = {
        "heading": heading,
        "invite": invite,
        "email": email,
        "errors": errors or [],
        "blocked": blocked,
        "invitation_for_admin": invitation_for_admin,
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return render(request, "signup.html", context, status_code=status_code)


CLOSED = "Sign-up is closed on this server. Ask its administrator for an account."
NEEDS_INVITE = (
    "Accounts on this server are by invitation. Ask the administrator for an invitation "
    "link and open it on this device."
)
BAD_INVITE = (
    "This invitation link is not valid: it was used already, has expired or is incomplete. "
    "Ask the person who invited you for a new link."
)


def _signup_block(
    session: Session, runtime: Runtime, invite: str
) -> tuple[str | None, Invitation | None]:
    """Why sign-up is not possible (a sentence), or the invitation that allows it."""
    mode = runtime.settings.accounts.signup
    if mode == "closed":
        return CLOSED, None
    if mode == "open":
        return None, None
    if not invite:
        return NEEDS_INVITE, None
    try:
        return None, invitations.usable_invitation(session, invite, now=utcnow())
    except InvitationInvalidError:
        return BAD_INVITE, None


@router.get("/signup", response_model=None)
def signup_form(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    invite: Annotated[str, Query()] = "",
) -> Response:
    """The sign-up form, or why there is none (closed, no invitation, a bad invitation)."""
    blocked, invitation = _signup_block(session, runtime, invite)
    if blocked:
        return _signup_page(request, blocked=blocked, status_code=403)
    return _signup_page(
        request,
        invite=invite,
        invitation_for_admin=bool(invitation and invitation.is_admin),
    )


def _validate_signup(email: str, password: str, password_confirm: str) -> Errors:
    errors: Errors = []
    if not email.strip():
        errors.append(_error("email", "Enter your email address"))
    elif not _EMAIL.match(email.strip()):
        errors.append(
            _error("email", "Enter an email address in the right form, like name@example.org")
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(
            _error("password", f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters")
        )
    elif password != password_confirm:
        errors.append(_error("password_confirm", "The two passwords are not the same"))
    return errors


@router.post("/signup", response_model=None)
def signup(  # nosec B107  # "" is a form field the browser left out, never a secret
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    email: FormStr = "",
    password: FormStr = "",
    password_confirm: FormStr = "",
    invite: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    """Create the account (using the invitation once), sign it in, go to the courses.

    A form sent twice (a double tap) makes one account: the second submission finds the
    invitation or the email taken by the same email and password, and just signs in."""
    blocked, _invitation = _signup_block(session, runtime, invite)
    if blocked and not (invite and blocked == BAD_INVITE):
        return _signup_page(request, blocked=blocked, status_code=403)
    errors: Errors = []
    if not _anonymous_csrf_ok(request, csrf_token):
        errors.append(_error(None, STALE_FORM))
    errors += _validate_signup(email, password, password_confirm)
    if errors and not blocked:
        return _signup_page(request, invite=invite, email=email, errors=errors, status_code=400)
    if errors:
        return _signup_page(request, blocked=blocked, status_code=403)
    try:
        if runtime.settings.accounts.signup == "invite":
            user = invitations.redeem_invitation(
                session, invite, email=email, password=password, now=utcnow()
            )
        else:
            user = create_user(session, email, password, via=VIA_SIGNUP)
    except (InvitationInvalidError, UserExistsError, IntegrityError) as exc:
        session.rollback()
        # The same person's second submission: the account exists with this password. This
        # is a sign-in like the log-in form's, with its limits, so never a way around them.
        try:
            user_again = self_service.sign_in(
                session, email, password, address=client_address(request), now=utcnow()
            )
        except (SignInRateLimitedError, AccountDisabledError) as refusal:
            log.warning("web.sign_in_refused", code=refusal.code)
            page = _signup_page(
                request,
                blocked=refusal_text(refusal),
                status_code=REFUSAL_STATUS[type(refusal)],
            )
            return refused(page, refusal)
        if user_again is None:
            if isinstance(exc, InvitationInvalidError):
                return _signup_page(request, blocked=BAD_INVITE, status_code=403)
            taken = _error("email", "An account with this email address exists already. Sign in")
            return _signup_page(
                request, invite=invite, email=email, errors=[taken], status_code=409
            )
        user = user_again
    except InvalidRequestError as exc:
        session.rollback()
        return _signup_page(
            request,
            invite=invite,
            email=email,
            errors=[_error("email", exc.message)],
            status_code=400,
        )
    log.info("web.signed_up", user_id=user.id, mode=runtime.settings.accounts.signup)
    response = RedirectResponse("/courses", status_code=303)
    _sign_in(request, response, session, runtime, user)
    return response
