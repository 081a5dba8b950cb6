"""Queries on users and tokens."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pegasus.db.models import ApiToken, User


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def active_token_by_digest(session: Session, digest: str) -> ApiToken | None:
    return session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )
