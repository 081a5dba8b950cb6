"""Queries on users and tokens."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from pegasus.db.models import ApiToken, User


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def token_by_digest(session: Session, digest: str) -> ApiToken | None:
    """The token with this SHA-256, revoked or not (with its user, in one query)."""
    return session.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == digest)
    )


def user_by_id_or_email(session: Session, value: str) -> User | None:
    """The user whose id or (case-insensitive) email is ``value``."""
    text = value.strip()
    if "@" in text:
        return user_by_email(session, text)
    return session.get(User, text) if len(text) <= 36 else None


def all_users(session: Session) -> list[User]:
    """Every user, oldest first."""
    return list(session.scalars(select(User).order_by(User.created_at, User.email)))


def count_enabled_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_admin.is_(True), User.disabled_at.is_(None))
        )
        or 0
    )


def tokens(
    session: Session, *, user_id: str | None = None, include_revoked: bool = False
) -> list[ApiToken]:
    """API tokens (of ``user_id``, else everyone's), newest first, each with its user."""
    query = select(ApiToken).options(joinedload(ApiToken.user))
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(query.order_by(ApiToken.created_at.desc(), ApiToken.id)))


def tokens_matching(session: Session, id_or_prefix: str) -> list[ApiToken]:
    """Tokens whose id is ``id_or_prefix``, or whose shown prefix (``pgs_…``) it is."""
    text = id_or_prefix.strip()
    return list(
        session.scalars(
            select(ApiToken)
            .options(joinedload(ApiToken.user))
            .where(or_(ApiToken.id == text, ApiToken.prefix == text))
        )
    )
