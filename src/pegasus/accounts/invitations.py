"""Invitations: single-use sign-up links an admin makes (in the web app or with
``pegasus users invite``). Only the SHA-256 of the link's token is stored. Making, revoking
and using one is recorded in the audit log (``pegasus.audit``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pegasus.accounts.security import hash_token
from pegasus.accounts.service import VIA_INVITATION, create_user
from pegasus.audit import actions, record
from pegasus.db.models import Invitation, User
from pegasus.db.session import rows_changed
from pegasus.errors import InvitationInvalidError

INVITATION_PREFIX = "inv_"


@dataclass(frozen=True)
class NewInvitation:
    """A fresh invitation: ``token`` goes into the link and is shown once."""

    token: str
    invitation: Invitation


def create_invitation(
    session: Session,
    *,
    created_by: User | None,
    is_admin: bool,
    now: datetime,
    lifetime: timedelta,
) -> NewInvitation:
    """A new single-use invitation, valid until ``now + lifetime``."""
    token = INVITATION_PREFIX + secrets.token_urlsafe(32)
    invitation = Invitation(
        token_hash=hash_token(token),
        created_by=created_by.id if created_by else None,
        is_admin=is_admin,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(invitation)
    session.flush()
    record(
        session,
        actions.USER_INVITED,
        actor_id=created_by.id if created_by else None,
        subject_type="invitation",
        subject_id=invitation.id,
        details={"is_admin": is_admin, "expires_at": invitation.expires_at.isoformat()},
        now=now,
    )
    return NewInvitation(token=token, invitation=invitation)


def invitation_link(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + "/signup?invite=" + token


def usable_invitation(session: Session, token: str, *, now: datetime) -> Invitation:
    """The unused, unexpired invitation of ``token``; ``InvitationInvalidError`` otherwise."""
    if not token or len(token) > 200:
        raise InvitationInvalidError()
    found = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if found is None or found.used_at is not None or found.expires_at <= now:
        raise InvitationInvalidError()
    return found


def redeem_invitation(
    session: Session, token: str, *, email: str, password: str, now: datetime
) -> User:
    """Create the invited user and mark the invitation used, in the caller's transaction.

    The invitation is claimed first with a conditional UPDATE (``used_at IS NULL``): of two
    submissions racing each other, one claims it and the other gets
    ``InvitationInvalidError``, so one invitation makes one user. An invalid email or password
    raises before anything is kept (the caller's unit of work rolls back)."""
    invitation = usable_invitation(session, token, now=now)
    claimed = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.used_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(claimed) != 1:
        raise InvitationInvalidError()
    user = create_user(
        session,
        email,
        password,
        is_admin=invitation.is_admin,
        via=VIA_INVITATION,
        invitation_id=invitation.id,
    )
    session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(used_by=user.id)
        .execution_options(synchronize_session=False)
    )
    session.expire(invitation)
    return user


def open_invitations(session: Session, *, now: datetime) -> list[Invitation]:
    """Invitations not used yet and not expired, newest first."""
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.used_at.is_(None), Invitation.expires_at > now)
            .order_by(Invitation.created_at.desc())
        )
    )


def revoke_invitation(
    session: Session, invitation_id: str, *, now: datetime, by: User | None = None
) -> bool:
    """Make an unused invitation unusable (it expires now); whether one was revoked. ``by``
    is the admin doing it."""
    result = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.used_at.is_(None))
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        return False
    record(
        session,
        actions.INVITATION_REVOKED,
        actor_id=by.id if by else None,
        subject_type="invitation",
        subject_id=invitation_id,
        now=now,
    )
    return True
