"""Account rules: creating users and tokens, authenticating bearer tokens."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from pegasus.accounts import repository
from pegasus.accounts.security import (
    USE_RECORD_RESOLUTION,
    hash_password,
    hash_token,
    mint_token,
)
from pegasus.db.models import ApiToken, User
from pegasus.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    UserExistsError,
    quoted,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


def create_user(session: Session, email: str, password: str, *, is_admin: bool = False) -> User:
    """Create a user; the email is normalised to lower case and must be unique."""
    normalized = email.strip().lower()
    if not _EMAIL.match(normalized):
        raise InvalidRequestError(f"{quoted(email)} is not an email address.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )
    if repository.user_by_email(session, normalized) is not None:
        raise UserExistsError(f"A user with the email {normalized} already exists.")
    user = User(email=normalized, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def create_token(session: Session, email: str, *, name: str = "cli") -> str:
    """Mint an API token for the user ``email``; return the secret (it is not stored)."""
    user = repository.user_by_email(session, email)
    if user is None:
        raise NotFoundError(f"There is no user with the email {email.strip().lower()}.")
    token = mint_token()
    session.add(ApiToken(user_id=user.id, name=name, token_hash=token.digest, prefix=token.prefix))
    session.flush()
    return token.secret


def authenticate_token(session: Session, secret: str, *, now: datetime) -> User:
    """The user a bearer token belongs to; ``AuthenticationError`` if it is unknown or revoked.

    Notes the token's use at most every ``USE_RECORD_RESOLUTION``, so most requests only read.
    The caller commits soon after (see ``pegasus.dependencies.current_user``): the write must
    not stay in a long transaction, where it would hold SQLite's write lock."""
    token = repository.active_token_by_digest(session, hash_token(secret))
    if token is None:
        raise AuthenticationError(
            "That API token is not valid. Create one with `pegasus tokens create`."
        )
    last_used = token.last_used_at
    if last_used is None or last_used < now - USE_RECORD_RESOLUTION:
        token.last_used_at = now
    return token.user


def has_users(session: Session) -> bool:
    return repository.count_users(session) > 0
