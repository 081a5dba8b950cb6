"""The account page and what it does: change the password (other devices are signed out),
API tokens (list, create with an optional expiry and see once, revoke after a confirmation),
where you are signed in (end one session, all others, or all), an admin's invitations, and
an admin's users page (disable after a confirmation, enable).

Every form is CSRF-checked by ``PageUserDep``. The rules live in ``pegasus.accounts``; these
routes only read forms and render.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pegasus.accounts import admin as accounts_admin
from pegasus.accounts import invitations, self_service
from pegasus.accounts.service import MIN_PASSWORD_LENGTH
from pegasus.accounts.web_sessions import (
    SESSION_COOKIE,
    end_all_sessions,
    end_other_sessions,
    end_session_by_handle,
    handle_of_token,
    session_handle,
    sessions_of,
)
from pegasus.db.base import utcnow
from pegasus.db.models import ApiToken, User
from pegasus.dependencies import RuntimeDep, SessionDep
from pegasus.errors import ConflictError, InvalidRequestError, NotFoundError, WrongPasswordError
from pegasus.routing import UnitOfWorkRoute
from pegasus.runtime import Runtime
from pegasus.web.auth import PageUserDep, clear_session_cookie
from pegasus.web.messages import message_for
from pegasus.web.pages import render

log = structlog.get_logger(__name__)
router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

FormStr = Annotated[str, Form()]
Errors = list[dict[str, str | None]]

#: The expiry choices of the token form (days; "" = until revoked), the first is the default.
TOKEN_EXPIRY_CHOICES: tuple[tuple[str, str], ...] = (
    ("90", "90 days"),
    ("30", "30 days"),
    ("7", "7 days"),
    ("365", "1 year"),
    ("", "Never (until you revoke it)"),
)


def _error(field: str | None, message: str) -> dict[str, str | None]:
    return {"field": field, "message": message}


def _public_base_url(request: Request, runtime: Runtime) -> str:
    configured = runtime.settings.server.public_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


def _days_text(days: float) -> str:
    return str(int(days)) if float(days).is_integer() else str(days)


def describe_user_agent(user_agent: str | None) -> str:
    """A person's name for the browser and system of a User-Agent ("Firefox on Android")."""
    if not user_agent:
        return "Unknown browser"
    text = user_agent
    browsers = (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS", "Firefox"),
        ("CriOS", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-httpx", "a Python script"),
        ("python-requests", "a Python script"),
    )
    systems = (
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for mark, name in browsers if mark in text), None)
    system = next((name for mark, name in systems if mark in text), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system or ""
    return text[:60]


def _session_rows(session: Session, user: User, current_token: str) -> list[dict[str, Any]]:
    current = handle_of_token(current_token)
    rows = []
    for row in sessions_of(session, user.id, now=utcnow()):
        handle = session_handle(row)
        rows.append(
            {
                "handle": handle,
                "device": describe_user_agent(row.user_agent),
                "user_agent": row.user_agent or "",
                "created_at": row.created_at,
                "last_seen_at": row.last_seen_at,
                "current": handle == current,
            }
        )
    rows.sort(key=lambda r: not r["current"])
    return rows


def _token_rows(session: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    return [
        {"token": token, "expired": token.expires_at is not None and token.expires_at <= now}
        for token in self_service.tokens_of(session, user)
    ]


def _account_page(
    request: Request,
    session: Session,
    runtime: Runtime,
    user: User,
    *,
    errors: Errors | None = None,
    notice: str | None = None,
    new_token: str | None = None,
    new_invitation: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = utcnow()
    context: dict[str, Any] = {
        "errors": errors or [],
        "notice": notice,
        "new_token": new_token,
        "new_invitation": new_invitation,
        "tokens": _token_rows(session, user, now),
        "token_expiry_choices": TOKEN_EXPIRY_CHOICES,
        "sessions": _session_rows(session, user, request.cookies.get(SESSION_COOKIE, "")),
        "invitations": invitations.open_invitations(session, now=now) if user.is_admin else [],
        "signup_mode": runtime.settings.accounts.signup,
        "default_invitation_days": _days_text(runtime.settings.accounts.invitation_days),
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return render(request, "account.html", context, status_code=status_code)


def _message_page(
    request: Request, heading: str, text: str, *, status_code: int, back: str = "/account"
) -> HTMLResponse:
    context = {"heading": heading, "text": text, "back": back}
    return render(request, "account_message.html", context, status_code=status_code)


def _confirm_page(
    request: Request,
    *,
    heading: str,
    text: str,
    action: str,
    button: str,
    back: str = "/account",
) -> HTMLResponse:
    context = {"heading": heading, "text": text, "action": action, "button": button, "back": back}
    return render(request, "account_confirm.html", context)


# --- the account page and the password ----------------------------------------------------


@router.get("/account", response_class=HTMLResponse)
def account(
    request: Request, session: SessionDep, runtime: RuntimeDep, user: PageUserDep
) -> HTMLResponse:
    """The account page."""
    return _account_page(request, session, runtime, user)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(  # nosec B107  # "" is a form field the browser left out, never a secret
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: PageUserDep,
    current_password: FormStr = "",
    new_password: FormStr = "",
    new_password_confirm: FormStr = "",
) -> HTMLResponse:
    """Change the password; other devices are signed out, this one stays signed in."""
    errors: Errors = []
    if not current_password:
        errors.append(_error("current_password", "Enter your current password"))
    if len(new_password) < MIN_PASSWORD_LENGTH:
        errors.append(
            _error(
                "new_password",
                f"Choose a new password of at least {MIN_PASSWORD_LENGTH} characters",
            )
        )
    elif new_password != new_password_confirm:
        errors.append(_error("new_password_confirm", "The two new passwords are not the same"))
    ended = 0
    if not errors:
        try:
            ended = self_service.change_password(
                session,
                user,
                current=current_password,
                new=new_password,
                keep_session=request.cookies.get(SESSION_COOKIE),
                now=utcnow(),
            )
        except WrongPasswordError:
            errors.append(_error("current_password", "Your current password is not right"))
    if errors:
        return _account_page(request, session, runtime, user, errors=errors, status_code=400)
    log.info("web.password_changed", user_id=user.id, other_sessions_ended=ended)
    notice = "Your password was changed."
    if ended:
        notice += f" You were signed out on {ended} other device{'s' if ended != 1 else ''}."
    return _account_page(request, session, runtime, user, notice=notice)


# --- API tokens ---------------------------------------------------------------------------


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(  # nosec B107  # "" is a form field the browser left out, never a secret
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: PageUserDep,
    token_name: FormStr = "",
    token_expires_days: FormStr = "",
) -> HTMLResponse:
    """Create an API token (with the chosen expiry) and show it once."""
    errors: Errors = []
    if not token_name.strip() or len(token_name.strip()) > 100:
        errors.append(_error("token_name", "Give the token a name of 1 to 100 characters"))
    if token_expires_days not in {value for value, _ in TOKEN_EXPIRY_CHOICES}:
        errors.append(_error("token_expires_days", "Choose when the token expires"))
    if errors:
        return _account_page(request, session, runtime, user, errors=errors, status_code=400)
    try:
        _row, secret = self_service.create_own_token(
            session,
            user,
            name=token_name,
            now=utcnow(),
            expires_in_days=float(token_expires_days) if token_expires_days else None,
        )
    except InvalidRequestError as exc:
        errors = [_error("token_name", exc.message)]
        return _account_page(request, session, runtime, user, errors=errors, status_code=400)
    log.info("web.token_created", user_id=user.id, token_id=_row.id)
    return _account_page(request, session, runtime, user, new_token=secret, status_code=201)


def _own_token(session: Session, user: User, token_id: str) -> ApiToken | None:
    return next((t for t in self_service.tokens_of(session, user) if t.id == token_id), None)


@router.get("/account/tokens/{token_id}/revoke", response_class=HTMLResponse)
def confirm_revoke_token(
    request: Request, token_id: str, session: SessionDep, user: PageUserDep
) -> HTMLResponse:
    """Ask before revoking: scripts that use the token stop working at once."""
    token = _own_token(session, user, token_id)
    if token is None:
        return _message_page(
            request,
            "Token not found",
            "That API token does not exist or was revoked already.",
            status_code=404,
        )
    return _confirm_page(
        request,
        heading=f"Revoke the token “{token.name}”?",
        text=f"Scripts and apps that use the token {token.prefix}… stop working at once. "
        "This cannot be undone; you can create a new token afterwards.",
        action=f"/account/tokens/{token.id}/revoke",
        button="Revoke token",
    )


@router.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(
    request: Request, token_id: str, session: SessionDep, runtime: RuntimeDep, user: PageUserDep
) -> HTMLResponse:
    """Revoke one of the user's own API tokens."""
    try:
        self_service.revoke_own_token(session, user, token_id, now=utcnow())
    except NotFoundError as exc:
        return _account_page(
            request, session, runtime, user, errors=[_error(None, exc.message)], status_code=404
        )
    log.info("web.token_revoked", user_id=user.id, token_id=token_id)
    return _account_page(request, session, runtime, user, notice="The token was revoked.")


# --- sessions -----------------------------------------------------------------------------


@router.post("/account/sessions/{handle}/end", response_model=None)
def end_one_session(
    request: Request, handle: str, session: SessionDep, runtime: RuntimeDep, user: PageUserDep
) -> Response:
    """Sign out one device (this one: back to the log-in page)."""
    this_one = handle == handle_of_token(request.cookies.get(SESSION_COOKIE, ""))
    if not end_session_by_handle(session, user.id, handle, now=utcnow()):
        errors = [_error(None, "That session has ended already.")]
        return _account_page(request, session, runtime, user, errors=errors, status_code=404)
    log.info("web.session_ended", user_id=user.id, this_one=this_one)
    if this_one:
        return _signed_out(request)
    return _account_page(request, session, runtime, user, notice="That device was signed out.")


@router.post("/account/sessions/end-others", response_class=HTMLResponse)
def end_others(
    request: Request, session: SessionDep, runtime: RuntimeDep, user: PageUserDep
) -> HTMLResponse:
    """Sign out everywhere except this browser."""
    ended = end_other_sessions(session, user.id, keep_token=request.cookies.get(SESSION_COOKIE))
    log.info("web.other_sessions_ended", user_id=user.id, ended=ended)
    notice = f"Signed out on {ended} other device{'s' if ended != 1 else ''}."
    return _account_page(request, session, runtime, user, notice=notice)


@router.post("/account/sessions/end-all", response_model=None)
def end_all(request: Request, session: SessionDep, user: PageUserDep) -> Response:
    """Sign out everywhere, this browser too."""
    ended = end_all_sessions(session, user.id)
    log.info("web.all_sessions_ended", user_id=user.id, ended=ended)
    return _signed_out(request)


def _signed_out(request: Request) -> Response:
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    clear_session_cookie(request, response)
    return response


# --- invitations (admins) -----------------------------------------------------------------


@router.post("/account/invitations", response_class=HTMLResponse)
def create_invitation(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: PageUserDep,
    expires_days: FormStr = "",
    admin: FormStr = "",
) -> HTMLResponse:
    """An admin makes a single-use invitation link (shown once)."""
    if not user.is_admin:
        errors = [_error(None, "Only an administrator can invite people.")]
        return _account_page(request, session, runtime, user, errors=errors, status_code=403)
    try:
        days = float(expires_days or runtime.settings.accounts.invitation_days)
    except ValueError:
        days = -1.0
    if not 0 < days <= 365:
        errors = [_error("expires_days", "Enter a number of days from 1 to 365")]
        return _account_page(request, session, runtime, user, errors=errors, status_code=400)
    made = invitations.create_invitation(
        session,
        created_by=user,
        is_admin=bool(admin),
        now=utcnow(),
        lifetime=timedelta(days=days),
    )
    shown = {
        "link": invitations.invitation_link(_public_base_url(request, runtime), made.token),
        "expires_at": made.invitation.expires_at,
    }
    log.info("web.invitation_created", user_id=user.id, invitation_id=made.invitation.id)
    return _account_page(request, session, runtime, user, new_invitation=shown, status_code=201)


@router.post("/account/invitations/{invitation_id}/revoke", response_class=HTMLResponse)
def revoke_invitation(
    request: Request,
    invitation_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    user: PageUserDep,
) -> HTMLResponse:
    """An admin withdraws an unused invitation."""
    if not user.is_admin or not invitations.revoke_invitation(
        session, invitation_id, now=utcnow(), by=user
    ):
        errors = [_error(None, "That invitation does not exist or was used already.")]
        return _account_page(request, session, runtime, user, errors=errors, status_code=404)
    return _account_page(request, session, runtime, user, notice="The invitation was revoked.")


# --- users (admins) -----------------------------------------------------------------------

ADMINS_ONLY = "Only an administrator can manage users. Go back to your account."


def _users_page(
    request: Request,
    session: Session,
    *,
    errors: Errors | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "users": accounts_admin.list_users(session),
        "errors": errors or [],
        "notice": notice,
    }
    return render(request, "account_users.html", context, status_code=status_code)


def _not_admin(request: Request) -> HTMLResponse:
    return _message_page(request, "Administrators only", ADMINS_ONLY, status_code=403)


@router.get("/account/users", response_class=HTMLResponse)
def users(request: Request, session: SessionDep, user: PageUserDep) -> HTMLResponse:
    """Every user, with Disable/Enable (admins only)."""
    if not user.is_admin:
        return _not_admin(request)
    return _users_page(request, session)


def _admin_target(
    request: Request, session: Session, user: User, user_id: str
) -> User | HTMLResponse:
    """The user an admin's form acts on, or the page that says why not (the signed-in user
    is not an admin, or there is no such user)."""
    if not user.is_admin:
        return _not_admin(request)
    target = _target(session, user_id)
    if target is None:
        return _users_page(
            request, session, errors=[_error(None, "There is no such user.")], status_code=404
        )
    return target


def _target(session: Session, user_id: str) -> User | None:
    try:
        return accounts_admin.find_user(session, user_id)
    except NotFoundError:
        return None


@router.get("/account/users/{user_id}/disable", response_class=HTMLResponse)
def confirm_disable_user(
    request: Request, user_id: str, session: SessionDep, user: PageUserDep
) -> HTMLResponse:
    """Ask before disabling: the person is signed out everywhere at once."""
    if not user.is_admin:
        return _not_admin(request)
    target = _target(session, user_id)
    if target is None:
        return _message_page(
            request,
            "User not found",
            "There is no such user.",
            status_code=404,
            back="/account/users",
        )
    return _confirm_page(
        request,
        heading=f"Disable {target.email}?",
        text="They are signed out on every device at once, cannot sign in, and their API "
        "tokens stop working. Their courses and lectures are kept. You can enable the "
        "account again later.",
        action=f"/account/users/{target.id}/disable",
        button="Disable account",
        back="/account/users",
    )


@router.post("/account/users/{user_id}/disable", response_class=HTMLResponse)
def disable_user(
    request: Request, user_id: str, session: SessionDep, user: PageUserDep
) -> HTMLResponse:
    """Disable a user (admins only)."""
    target = _admin_target(request, session, user, user_id)
    if isinstance(target, HTMLResponse):
        return target
    try:
        accounts_admin.disable_user(session, target, now=utcnow(), by=user)
    except ConflictError as exc:
        return _users_page(request, session, errors=[_error(None, exc.message)], status_code=409)
    log.info("web.user_disabled", user_id=user.id, target_id=target.id)
    return _users_page(request, session, notice=f"{target.email} is disabled.")


@router.post("/account/users/{user_id}/enable", response_class=HTMLResponse)
def enable_user(
    request: Request, user_id: str, session: SessionDep, user: PageUserDep
) -> HTMLResponse:
    """Enable a disabled user again (admins only)."""
    target = _admin_target(request, session, user, user_id)
    if isinstance(target, HTMLResponse):
        return target
    try:
        accounts_admin.enable_user(session, target, by=user)
    except ConflictError as exc:
        message = message_for(exc.code)
        errors = [_error(None, f"{message.happened} {message.todo}")]
        return _users_page(request, session, errors=errors, status_code=409)
    log.info("web.user_enabled", user_id=user.id, target_id=target.id)
    return _users_page(request, session, notice=f"{target.email} can sign in again.")
