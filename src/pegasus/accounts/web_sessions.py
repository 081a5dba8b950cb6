"""Browser sign-ins: server-side sessions keyed by the SHA-256 of the cookie's token.

The cookie holds a random token (256 bits); the row's id is its SHA-256, so the database
alone cannot be replayed as a cookie. Each sign-in makes a new session (the id rotates), and
signing out deletes the row. A session expires ``lifetime`` after it was last seen; use is
written at most every ``USE_RECORD_RESOLUTION``, like API token use. A disabled user's
sessions are deleted when they are disabled and refused if one slipped through.

Pages name a session by its ``handle`` (a hash of the row's id), never by the id itself.

Ending sessions is audited (``pegasus.audit``): ``auth.sign_out`` for the browser's own
session, ``auth.session_ended`` for sessions ended from the account page. Sessions that
expire, or end because their user is disabled or changed the password, are recorded by
what ended them, if at all.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pegasus.accounts.security import USE_RECORD_RESOLUTION, hash_token
from pegasus.audit import actions, record
from pegasus.db.models import User, WebSession
from pegasus.db.session import rows_changed

#: The cookie that carries the session token.
SESSION_COOKIE = "pegasus_session"


@dataclass(frozen=True)
class NewWebSession:
    """A fresh sign-in: ``token`` goes into the cookie and is not stored."""

    token: str
    csrf_token: str
    expires_at: datetime


#: How much of a browser's User-Agent is kept (enough to tell devices apart).
USER_AGENT_CHARS = 300


def start_session(
    session: Session,
    user: User,
    *,
    now: datetime,
    lifetime: timedelta,
    user_agent: str | None = None,
) -> NewWebSession:
    """Sign ``user`` in: a new session row with its own CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.add(
        WebSession(
            id=hash_token(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            user_agent=(user_agent or "").strip()[:USER_AGENT_CHARS] or None,
        )
    )
    session.flush()
    return NewWebSession(token=token, csrf_token=csrf, expires_at=expires_at)


def authenticate_session(
    session: Session, token: str, *, now: datetime, lifetime: timedelta
) -> WebSession | None:
    """The unexpired session whose cookie token is ``token``, or None (signed out).

    Slides its expiry to ``now + lifetime``, writing at most every ``USE_RECORD_RESOLUTION`` so most
    requests only read; the caller commits soon after (see ``pegasus.dependencies``)."""
    if not token or len(token) > 200:
        return None
    found = session.get(WebSession, hash_token(token))
    if found is None or found.expires_at <= now or found.user.disabled_at is not None:
        return None
    if found.last_seen_at < now - USE_RECORD_RESOLUTION:
        found.last_seen_at = now
        found.expires_at = now + lifetime
    return found


#: Why a browser's own session ended (``auth.sign_out``'s ``reason``).
SIGNED_OUT = "signed_out"
REPLACED = "replaced"


def end_session(session: Session, token: str, *, reason: str = SIGNED_OUT) -> None:
    """Sign out: the session with cookie token ``token`` no longer exists. When there was
    one, recorded as ``auth.sign_out`` with ``reason`` (``REPLACED``: a new sign-in in the
    same browser ends the old session)."""
    if not token:
        return
    user_id = session.scalar(
        delete(WebSession).where(WebSession.id == hash_token(token)).returning(WebSession.user_id)
    )
    if user_id is not None:
        _record_end(session, actions.SIGN_OUT, user_id, {"reason": reason})


def delete_other_sessions(session: Session, user_id: str, *, keep_token: str | None) -> int:
    """Delete ``user_id``'s sessions except the one of ``keep_token``, unrecorded (the
    caller records why: a password change); how many."""
    statement = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_token:
        statement = statement.where(WebSession.id != hash_token(keep_token))
    return rows_changed(session.execute(statement))


def end_other_sessions(session: Session, user_id: str, *, keep_token: str | None) -> int:
    """Sign ``user_id`` out everywhere except the session of ``keep_token``; how many ended."""
    ended = delete_other_sessions(session, user_id, keep_token=keep_token)
    _record_end(session, actions.SESSION_ENDED, user_id, {"scope": "others", "ended": ended})
    return ended


def end_all_sessions(session: Session, user_id: str) -> int:
    """Sign ``user_id`` out everywhere, this browser too; how many sessions ended."""
    ended = rows_changed(session.execute(delete(WebSession).where(WebSession.user_id == user_id)))
    _record_end(session, actions.SESSION_ENDED, user_id, {"scope": "all", "ended": ended})
    return ended


def _record_end(session: Session, action: str, user_id: str, details: dict[str, str | int]) -> None:
    record(
        session,
        action,
        actor_id=user_id,
        subject_type="user",
        subject_id=user_id,
        details=details,
    )


def session_handle(row: WebSession) -> str:
    """How pages name a session: short, stable, and not the row's id."""
    return hash_token(row.id)[:20]


def handle_of_token(token: str) -> str:
    """The handle of the session whose cookie token is ``token``."""
    return hash_token(hash_token(token))[:20] if token else ""


def sessions_of(session: Session, user_id: str, *, now: datetime) -> list[WebSession]:
    """The user's unexpired sessions, the most recently seen first."""
    return list(
        session.scalars(
            select(WebSession)
            .where(WebSession.user_id == user_id, WebSession.expires_at > now)
            .order_by(WebSession.last_seen_at.desc(), WebSession.created_at.desc())
        )
    )


def end_session_by_handle(session: Session, user_id: str, handle: str, *, now: datetime) -> bool:
    """End one of the user's sessions, named by its handle; whether it existed."""
    for row in sessions_of(session, user_id, now=now):
        if session_handle(row) == handle:
            session.execute(delete(WebSession).where(WebSession.id == row.id))
            _record_end(session, actions.SESSION_ENDED, user_id, {"scope": "one", "ended": 1})
            return True
    return False


def purge_expired_sessions(session: Session, *, now: datetime) -> int:
    """Delete expired sessions; how many."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    return rows_changed(result)


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    if not given or not expected:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
