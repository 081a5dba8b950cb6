"""Browser sign-ins: server-side sessions keyed by the SHA-256 of the cookie's token.

The cookie holds a random token (256 bits); the row's id is its SHA-256, so the database
alone cannot be replayed as a cookie. Each sign-in makes a new session (the id rotates), and
signing out deletes the row. A session expires ``lifetime`` after it was last seen; use is
written at most every ``USE_RECORD_RESOLUTION``, like API token use.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from pegasus.accounts.security import USE_RECORD_RESOLUTION, hash_token
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


def start_session(
    session: Session, user: User, *, now: datetime, lifetime: timedelta
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
    if found is None or found.expires_at <= now:
        return None
    if found.last_seen_at < now - USE_RECORD_RESOLUTION:
        found.last_seen_at = now
        found.expires_at = now + lifetime
    return found


def end_session(session: Session, token: str) -> None:
    """Sign out: the session with cookie token ``token`` no longer exists."""
    if token:
        session.execute(delete(WebSession).where(WebSession.id == hash_token(token)))


def end_other_sessions(session: Session, user_id: str, *, keep_token: str | None) -> int:
    """Sign ``user_id`` out everywhere except the session of ``keep_token``; how many ended."""
    statement = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_token:
        statement = statement.where(WebSession.id != hash_token(keep_token))
    result = session.execute(statement)
    return rows_changed(result)


def purge_expired_sessions(session: Session, *, now: datetime) -> int:
    """Delete expired sessions; how many."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    return rows_changed(result)


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    if not given or not expected:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
