"""What an admin (in the web app or the API) or an operator (with the CLI) does to accounts:
list users, disable and enable them, list and revoke anybody's API tokens. Every change is
recorded in the audit log (``pegasus.audit``) with the admin as its actor (none: the CLI)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from pegasus.accounts import repository
from pegasus.audit import actions, record
from pegasus.db.models import ApiToken, User, WebSession
from pegasus.db.session import rows_changed
from pegasus.errors import ConflictError, NotFoundError, UserDeletedError, quoted


def list_users(session: Session) -> list[User]:
    """Every user, oldest first."""
    return repository.all_users(session)


def find_user(session: Session, id_or_email: str) -> User:
    """The user with this id or email; ``NotFoundError`` otherwise."""
    user = repository.user_by_id_or_email(session, id_or_email)
    if user is None:
        raise NotFoundError(f"There is no user {quoted(id_or_email)}.")
    return user


def disable_user(session: Session, user: User, *, now: datetime, by: User | None) -> bool:
    """Disable ``user`` at once: their browser sessions end now and their tokens are refused
    from the next request on (the tokens are kept: enabling the user brings them back).
    Whether anything changed (a disabled user stays as they were).

    ``by`` is the admin doing it (None: the operator's CLI). Nobody disables their own account,
    and the last enabled admin is never disabled, so someone can always enable users again."""
    if user.disabled_at is not None:
        return False
    if by is not None and by.id == user.id:
        raise ConflictError("You cannot disable your own account. Ask another admin.")
    if user.is_admin and repository.count_enabled_admins(session) <= 1:
        raise ConflictError(
            f"{user.email} is the last enabled admin; make or enable another admin first."
        )
    changed = session.execute(
        update(User)
        .where(User.id == user.id, User.disabled_at.is_(None))
        .values(disabled_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:
        session.expire(user)
        return False
    ended = rows_changed(session.execute(delete(WebSession).where(WebSession.user_id == user.id)))
    session.expire(user)
    record(
        session,
        actions.USER_DISABLED,
        actor_id=by.id if by else None,
        subject_type="user",
        subject_id=user.id,
        details={"sessions_ended": ended},
        now=now,
    )
    return True


def enable_user(session: Session, user: User, *, by: User | None = None) -> bool:
    """Let a disabled user sign in again (their unrevoked tokens work again); whether
    anything changed. ``by`` is the admin doing it (None: the operator's CLI).

    A deleted user (``deleted_at`` set) stays disabled: ``UserDeletedError``."""
    if user.deleted_at is not None:
        raise UserDeletedError()
    changed = session.execute(
        update(User)
        .where(User.id == user.id, User.disabled_at.is_not(None), User.deleted_at.is_(None))
        .values(disabled_at=None)
        .execution_options(synchronize_session=False)
    )
    session.expire(user)
    if rows_changed(changed) != 1:
        return False
    record(
        session,
        actions.USER_ENABLED,
        actor_id=by.id if by else None,
        subject_type="user",
        subject_id=user.id,
    )
    return True


def list_tokens(
    session: Session, *, email: str | None = None, include_revoked: bool = False
) -> list[ApiToken]:
    """API tokens of the user ``email`` (everyone's when None), newest first."""
    user_id = None
    if email is not None:
        user_id = find_user(session, email).id
    return repository.tokens(session, user_id=user_id, include_revoked=include_revoked)


def revoke_token(
    session: Session, id_or_prefix: str, *, now: datetime, by: User | None = None
) -> ApiToken:
    """Revoke the token with this id or shown prefix, whoever owns it; it is refused from
    its next request on. ``NotFoundError`` when none matches or it was revoked already,
    ``ConflictError`` when a prefix matches several (give the id). ``by`` is the admin
    doing it (None: the operator's CLI)."""
    matches = repository.tokens_matching(session, id_or_prefix)
    if len(matches) > 1:
        raise ConflictError(
            f"{len(matches)} tokens start with {quoted(id_or_prefix)}; give the token's id "
            "(`pegasus tokens list`)."
        )
    if not matches:
        raise NotFoundError(f"There is no API token {quoted(id_or_prefix)}.")
    token = matches[0]
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        raise NotFoundError(f"The API token {quoted(id_or_prefix)} was revoked already.")
    record(
        session,
        actions.TOKEN_REVOKED,
        actor_id=by.id if by else None,
        subject_type="token",
        subject_id=token.id,
        details={"owner_id": token.user_id},
        now=now,
    )
    session.expire(token)
    return token
