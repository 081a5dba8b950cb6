"""Migration 0007 (account lifecycle) downgraded with a disabled user and expired tokens in
the tables: the older schema keeps them unusable, and upgrading again disables the user
again. (test_migrations.py proves every other row and value survives the round trip.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from pegasus.accounts.admin import disable_user
from pegasus.accounts.security import verify_password
from pegasus.accounts.service import authenticate_token, create_token
from pegasus.accounts.web_sessions import start_session
from pegasus.config import DatabaseSettings
from pegasus.db.base import utcnow
from pegasus.db.migrate import downgrade, upgrade
from pegasus.db.models import User
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.errors import AccountDisabledError, TokenRevokedError
from tests.factories import BACKENDS, PASSWORD, make_user


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rollback_keeps_disabled_users_and_expired_tokens_unusable(
    backend: str, new_database: Callable[[str], str]
) -> None:
    engine = build_engine(DatabaseSettings(url=SecretStr(new_database(backend))))
    factory = build_session_factory(engine)
    now = utcnow()
    try:
        with unit_of_work(factory) as session:
            make_user(session, "admin@example.org", admin=True)
            banned = make_user(session, "banned@example.org")
            make_user(session, "fine@example.org")
            banned_token = create_token(session, "banned@example.org")
            fine_token = create_token(session, "fine@example.org")
            old_token = create_token(
                session,
                "fine@example.org",
                name="old",
                expires_in_days=1,
                now=now - timedelta(days=2),
            )
            create_token(session, "fine@example.org", name="new", expires_in_days=30)
            start_session(session, banned, now=now, lifetime=timedelta(days=1))
            disable_user(session, banned, now=now, by=None)
            start_session(session, banned, now=now, lifetime=timedelta(days=1))  # slipped in

        downgrade(engine, "0006")
        with engine.connect() as connection:
            users: dict[str, str] = dict(
                connection.execute(text("SELECT email, password_hash FROM users")).all()
            )
            assert users["banned@example.org"].startswith("disabled:$argon2")
            assert users["fine@example.org"].startswith("$argon2")
            revoked: dict[str, bool] = dict(
                connection.execute(
                    text(
                        "SELECT u.email || ':' || t.name, t.revoked_at IS NOT NULL "
                        "FROM api_tokens t JOIN users u ON u.id = t.user_id"
                    )
                ).all()
            )
            sessions = connection.execute(text("SELECT count(*) FROM web_sessions")).scalar()
        # the older code: no password matches, the tokens are revoked, no session is left
        assert not verify_password(users["banned@example.org"], PASSWORD)
        assert revoked == {
            "banned@example.org:cli": True,  # its user is disabled
            "fine@example.org:cli": False,  # no expiry
            "fine@example.org:old": True,  # expired: revoked as of its expiry
            "fine@example.org:new": False,  # still valid: the older code keeps it until revoked
        }
        assert sessions == 0

        upgrade(engine)
        with unit_of_work(factory) as session:
            again = session.query(User).filter_by(email="banned@example.org").one()
            assert again.disabled_at is not None
            assert verify_password(again.password_hash, PASSWORD)
            with pytest.raises(TokenRevokedError):  # revoked by the downgrade, for good
                authenticate_token(session, banned_token, now=utcnow())
            with pytest.raises(AccountDisabledError):
                authenticate_token(
                    session, create_token(session, "banned@example.org"), now=utcnow()
                )
            assert authenticate_token(session, fine_token, now=utcnow()).email == (
                "fine@example.org"
            )
            with pytest.raises(TokenRevokedError):
                authenticate_token(session, old_token, now=utcnow())
    finally:
        engine.dispose()
