"""Upload queries; the lease statements are single conditional UPDATEs, so two requests
racing for one upload cannot both win on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from pegasus.db.models import Upload
from pegasus.db.session import rows_changed


def owned_upload(session: Session, owner_id: str, upload_id: str) -> Upload | None:
    return session.scalar(select(Upload).where(Upload.id == upload_id, Upload.owner_id == owner_id))


def take_lease(
    session: Session,
    *,
    owner_id: str,
    upload_id: str,
    offset: int,
    token: str,
    now: datetime,
    until: datetime,
) -> bool:
    """Lease an unfinished, unexpired upload at ``offset`` for ``token`` unless another
    request holds a live lease; whether it was taken."""
    result = session.execute(
        update(Upload)
        .where(
            Upload.id == upload_id,
            Upload.owner_id == owner_id,
            Upload.offset_bytes == offset,
            Upload.completed_at.is_(None),
            Upload.expires_at > now,
            or_(Upload.lock_token.is_(None), Upload.locked_until < now),
        )
        .values(lock_token=token, locked_until=until)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def renew_lease(session: Session, upload_id: str, token: str, until: datetime) -> bool:
    result = session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(locked_until=until)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def record_progress(
    session: Session,
    upload_id: str,
    token: str,
    *,
    offset: int,
    state: dict[str, Any],
    expires_at: datetime,
    completed_at: datetime | None = None,
    lease_until: datetime | None = None,
) -> bool:
    """Store the new offset and storage state, if ``token`` still holds the lease; the lease
    ends, or lasts until ``lease_until`` when given."""
    result = session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(
            offset_bytes=offset,
            storage_state=state,
            expires_at=expires_at,
            completed_at=completed_at,
            lock_token=token if lease_until is not None else None,
            locked_until=lease_until,
        )
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def end_lease(session: Session, upload_id: str, token: str) -> None:
    session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(lock_token=None, locked_until=None)
        .execution_options(synchronize_session=False)
    )


def expired_uploads(session: Session, now: datetime, limit: int) -> Sequence[Upload]:
    """Expired uploads nobody is writing to, oldest first."""
    return session.scalars(
        select(Upload)
        .where(
            Upload.expires_at < now,
            or_(Upload.lock_token.is_(None), Upload.locked_until < now),
        )
        .order_by(Upload.expires_at)
        .limit(limit)
    ).all()


def delete_if_expired(session: Session, upload_id: str, now: datetime) -> bool:
    result = session.execute(
        delete(Upload)
        .where(
            Upload.id == upload_id,
            Upload.expires_at < now,
            or_(Upload.lock_token.is_(None), Upload.locked_until < now),
        )
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def delete_if_unleased(session: Session, upload_id: str, now: datetime) -> bool:
    result = session.execute(
        delete(Upload)
        .where(
            Upload.id == upload_id,
            or_(Upload.lock_token.is_(None), Upload.locked_until < now),
        )
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1
