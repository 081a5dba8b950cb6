"""What a signed-in person does to their own account: sign in with a password, change it,
and manage their own API tokens."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pegasus.accounts import repository
from pegasus.accounts.security import hash_password, mint_token, verify_password
from pegasus.accounts.service import MIN_PASSWORD_LENGTH
from pegasus.db.models import ApiToken, User
from pegasus.db.session import rows_changed
from pegasus.errors import InvalidRequestError, NotFoundError, WrongPasswordError


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


def change_password(session: Session, user: User, *, current: str, new: str) -> None:
    """Replace ``user``'s password; the current one must be right."""
    if not verify_password(user.password_hash, current):
        raise WrongPasswordError()
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"The new password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )
    user.password_hash = hash_password(new)
    session.flush()


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's API tokens that are not revoked, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc())
        )
    )


def create_own_token(session: Session, user: User, *, name: str) -> str:
    """A new API token for ``user``; returns the secret, which is not stored."""
    label = name.strip()
    if not label or len(label) > 100:
        raise InvalidRequestError("Give the token a name of 1 to 100 characters.")
    token = mint_token()
    session.add(ApiToken(user_id=user.id, name=label, token_hash=token.digest, prefix=token.prefix))
    session.flush()
    return token.secret


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
