"""Account rules: creating users and tokens, authenticating bearer tokens."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from pegasus.accounts import repository
from pegasus.accounts.security import (
    USE_RECORD_RESOLUTION,
    hash_password,
    hash_token,
    mint_token,
)
from pegasus.audit import actions, record
from pegasus.db.base import utcnow
from pegasus.db.models import ApiToken, User
from pegasus.errors import (
    AccountDisabledError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    TokenExpiredError,
    TokenRevokedError,
    UserExistsError,
    quoted,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
#: The longest a token may be made to last (``expires_in_days``); without one it lasts
#: until it is revoked.
MAX_TOKEN_DAYS = 3650


#: How a user came to be (``user.created``'s ``via``): the operator's CLI, an open sign-up,
#: an invitation.
VIA_OPERATOR = "operator"
VIA_SIGNUP = "signup"
VIA_INVITATION = "invitation"


def create_user(
    session: Session,
    email: str,
    password: str,
    *,
    is_admin: bool = False,
    via: str = VIA_OPERATOR,
    invitation_id: str | None = None,
) -> User:
    """Create a user; the email is normalised to lower case and must be unique.

    Recorded as ``user.created``: by nobody (the operator) ``via`` the CLI, else by the new
    user themselves (a sign-up, with the ``invitation_id`` it used)."""
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
    record(
        session,
        actions.USER_CREATED,
        actor_id=None if via == VIA_OPERATOR else user.id,
        subject_type="user",
        subject_id=user.id,
        details={"via": via, "invitation_id": invitation_id, "is_admin": is_admin},
    )
    return user


def token_expiry(now: datetime, expires_in_days: float | None) -> datetime | None:
    """When a token made ``now`` to last ``expires_in_days`` expires (None: never)."""
    if expires_in_days is None:
        return None
    if not 0 < expires_in_days <= MAX_TOKEN_DAYS:
        raise InvalidRequestError(
            f"A token can be made to last from 1 to {MAX_TOKEN_DAYS} days, or until revoked."
        )
    return now + timedelta(days=expires_in_days)


def add_token(
    session: Session,
    user: User,
    *,
    name: str,
    now: datetime,
    expires_in_days: float | None,
    by: User | None,
) -> tuple[ApiToken, str]:
    """A new API token for ``user``: the row and the secret, which is not stored. Recorded
    as ``token.created`` by ``by`` (None: the operator's CLI); the name is not recorded."""
    label = name.strip()
    if not label or len(label) > 100:
        raise InvalidRequestError("Give the token a name of 1 to 100 characters.")
    expires_at = token_expiry(now, expires_in_days)
    token = mint_token()
    row = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=token.digest,
        prefix=token.prefix,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actions.TOKEN_CREATED,
        actor_id=by.id if by else None,
        subject_type="token",
        subject_id=row.id,
        details={"owner_id": user.id, "expires_in_days": expires_in_days},
        now=now,
    )
    return row, token.secret


def create_token(
    session: Session,
    email: str,
    *,
    name: str = "cli",
    expires_in_days: float | None = None,
    now: datetime | None = None,
) -> str:
    """Mint an API token for the user ``email``; return the secret (it is not stored)."""
    user = repository.user_by_email(session, email)
    if user is None:
        raise NotFoundError(f"There is no user with the email {email.strip().lower()}.")
    _row, secret = add_token(
        session, user, name=name, now=now or utcnow(), expires_in_days=expires_in_days, by=None
    )
    return secret


def authenticate_token(session: Session, secret: str, *, now: datetime) -> User:
    """The user a bearer token belongs to.

    ``AuthenticationError`` when the token is unknown, and its subclasses with their own
    codes when it was revoked (``auth.token_revoked``), has expired (``auth.token_expired``)
    or its user is disabled (``auth.account_disabled``): each is checked on every request,
    so a revocation or a disabled account takes effect on the next one.

    Notes the token's use at most every ``USE_RECORD_RESOLUTION``, so most requests only read.
    The caller commits soon after (see ``pegasus.dependencies.current_user``): the write must
    not stay in a long transaction, where it would hold SQLite's write lock."""
    token = repository.token_by_digest(session, hash_token(secret)) if len(secret) <= 200 else None
    if token is None:
        raise AuthenticationError(
            "That API token is not valid. Create one with `pegasus tokens create`."
        )
    if token.revoked_at is not None:
        raise TokenRevokedError()
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenExpiredError()
    user = token.user
    if user.disabled_at is not None:
        raise AccountDisabledError()
    last_used = token.last_used_at
    if last_used is None or last_used < now - USE_RECORD_RESOLUTION:
        token.last_used_at = now
    return user


def has_users(session: Session) -> bool:
    return repository.count_users(session) > 0
