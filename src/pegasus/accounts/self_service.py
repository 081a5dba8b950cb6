"""What a person does to their own account: sign in with a password (rate limited, see
``sign_in_limits``), change it (ending their other sessions), and manage their own API
tokens."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import update
from sqlalchemy.orm import Session

from pegasus.accounts import repository, sign_in_limits
from pegasus.accounts.security import hash_password, verify_password
from pegasus.accounts.service import MIN_PASSWORD_LENGTH, add_token
from pegasus.accounts.web_sessions import end_other_sessions
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


def user_with_password(session: Session, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None (never says which was wrong)."""
    user = repository.user_by_email(session, email)
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


def sign_in(
    session: Session, email: str, password: str, *, address: str | None, now: datetime
) -> User | None:
    """The user whose email and password these are, or None (a failure, counted).

    Raises ``SignInRateLimitedError`` before checking the password when the account or the
    client ``address`` has no attempts left, and ``AccountDisabledError`` for a disabled
    user's right password (only someone who knows the password learns it is disabled). The
    caller commits even when None is returned, so the failure is counted."""
    sign_in_limits.check(session, email=email, address=address, now=now)
    user = user_with_password(session, email, password)
    if user is None:
        sign_in_limits.record_failure(session, email=email, address=address, now=now)
        return None
    if user.disabled_at is not None:
        raise AccountDisabledError()
    sign_in_limits.clear_account(session, email=email)
    return user


def change_password(
    session: Session, user: User, *, current: str, new: str, keep_session: str | None = None
) -> int:
    """Replace ``user``'s password (the current one must be right) and end every other
    browser session of theirs: all but the one whose cookie token is ``keep_session``.
    How many sessions ended."""
    if not verify_password(user.password_hash, current):
        raise WrongPasswordError()
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"The new password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )
    user.password_hash = hash_password(new)
    session.flush()
    return end_other_sessions(session, user.id, keep_token=keep_session)


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
    return add_token(session, user, name=name, now=now, expires_in_days=expires_in_days)


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
