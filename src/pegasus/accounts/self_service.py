"""What a person does to their own account: sign in with a password (rate limited, see
``sign_in_limits``), change it (ending their other sessions), and manage their own API
tokens. Each is recorded in the audit log (``pegasus.audit``) in the same transaction."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import update
from sqlalchemy.orm import Session

from pegasus.accounts import repository, sign_in_limits
from pegasus.accounts.security import hash_password, verify_password
from pegasus.accounts.service import MIN_PASSWORD_LENGTH, add_token
from pegasus.accounts.web_sessions import delete_other_sessions
from pegasus.audit import actions, record
from pegasus.db.models import ApiToken, User
from pegasus.db.session import rows_changed
from pegasus.errors import (
    AccountDisabledError,
    InvalidRequestError,
    NotFoundError,
    WrongPasswordError,
)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the email is unknown: a wrong email takes as long as a wrong
    password, so timing does not tell which emails have accounts."""
    return hash_password("pegasus-timing-equaliser")


def _check_password(session: Session, email: str, password: str) -> tuple[User | None, bool]:
    """The user ``email`` names (None: nobody) and whether ``password`` is theirs."""
    user = repository.user_by_email(session, email)
    if user is None:
        verify_password(_dummy_hash(), password)
        return None, False
    return user, verify_password(user.password_hash, password)


def sign_in(
    session: Session, email: str, password: str, *, address: str | None, now: datetime
) -> User | None:
    """The user whose email and password these are, or None (a failure, counted).

    Raises ``SignInRateLimitedError`` before checking the password when the account or the
    client ``address`` has no attempts left, and ``AccountDisabledError`` for a disabled
    user's right password (only someone who knows the password learns it is disabled). The
    caller commits even when None is returned or ``AccountDisabledError`` raised, so the
    failure is counted and its audit entry kept.

    Audited: ``auth.sign_in``, or ``auth.sign_in_failed`` with the account's user id when
    the email names a user (never the email itself). A refusal by the rate limit is not
    an entry: it checked no password, and an entry per refused request would let anyone
    fill the log as fast as they can send requests."""
    sign_in_limits.check(session, email=email, address=address, now=now)
    user, right = _check_password(session, email, password)
    if user is None or not right:
        sign_in_limits.record_failure(session, email=email, address=address, now=now)
        _record_failure(session, user, "wrong_password" if user else "unknown_account", now)
        return None
    if user.disabled_at is not None:
        _record_failure(session, user, "account_disabled", now)
        raise AccountDisabledError()
    sign_in_limits.clear_account(session, email=email)
    record(
        session,
        actions.SIGN_IN,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
        details={"method": "password"},
        now=now,
    )
    return user


def _record_failure(session: Session, user: User | None, reason: str, now: datetime) -> None:
    """``auth.sign_in_failed``: the account's user, or an anonymous "account" subject."""
    record(
        session,
        actions.SIGN_IN_FAILED,
        actor_id=user.id if user else None,
        subject_type="user" if user else "account",
        subject_id=user.id if user else None,
        details={"reason": reason},
        now=now,
    )


def change_password(
    session: Session,
    user: User,
    *,
    current: str,
    new: str,
    keep_session: str | None = None,
    now: datetime | None = None,
) -> int:
    """Replace ``user``'s password (the current one must be right) and end every other
    browser session of theirs: all but the one whose cookie token is ``keep_session``.
    How many sessions ended (recorded with ``auth.password_changed``)."""
    if not verify_password(user.password_hash, current):
        raise WrongPasswordError()
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"The new password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )
    user.password_hash = hash_password(new)
    session.flush()
    ended = delete_other_sessions(session, user.id, keep_token=keep_session)
    record(
        session,
        actions.PASSWORD_CHANGED,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
        details={"other_sessions_ended": ended},
        now=now,
    )
    return ended


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's API tokens that are not revoked (expired ones too), newest first."""
    return repository.tokens(session, user_id=user.id)


def create_own_token(
    session: Session,
    user: User,
    *,
    name: str,
    now: datetime,
    expires_in_days: float | None = None,
) -> tuple[ApiToken, str]:
    """A new API token for ``user``: the row, and the secret, which is not stored."""
    return add_token(session, user, name=name, now=now, expires_in_days=expires_in_days, by=user)


def revoke_own_token(session: Session, user: User, token_id: str, *, now: datetime) -> None:
    """Revoke one of ``user``'s tokens; another user's token is "not found"."""
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        raise NotFoundError("That API token does not exist or was revoked already.")
    record(
        session,
        actions.TOKEN_REVOKED,
        actor_id=user.id,
        subject_type="token",
        subject_id=token_id,
        details={"owner_id": user.id},
        now=now,
    )
