"""Browser sessions on both databases, below HTTP: a disabled user's session is refused even
if one was made after the disabling, sessions are named by handles that end only the owner's
own, and the device is kept short."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from pegasus.accounts.admin import disable_user, enable_user, find_user
from pegasus.accounts.web_sessions import (
    USER_AGENT_CHARS,
    authenticate_session,
    end_session_by_handle,
    handle_of_token,
    session_handle,
    sessions_of,
    start_session,
)
from pegasus.config import DatabaseSettings
from pegasus.db.base import utcnow
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from tests.factories import BACKENDS, make_user

DAY = timedelta(days=1)


@pytest.fixture(params=BACKENDS)
def factory(
    request: pytest.FixtureRequest, new_database: Callable[[str], str]
) -> Iterator[sessionmaker[Session]]:
    engine = build_engine(DatabaseSettings(url=SecretStr(new_database(request.param))))
    try:
        yield build_session_factory(engine)
    finally:
        engine.dispose()


def test_a_disabled_users_session_is_refused_even_if_made_afterwards(
    factory: sessionmaker[Session],
) -> None:
    now = utcnow()
    with unit_of_work(factory) as session:
        make_user(session, "keeper@example.org", admin=True)
        user = make_user(session, "late@example.org")
        before = start_session(session, user, now=now, lifetime=DAY)
        assert disable_user(session, user, now=now, by=None)
        # a sign-in that raced the disabling and got its row in afterwards
        after = start_session(session, user, now=now, lifetime=DAY)
    with unit_of_work(factory) as session:
        assert authenticate_session(session, before.token, now=now, lifetime=DAY) is None
        assert authenticate_session(session, after.token, now=now, lifetime=DAY) is None
        assert len(sessions_of(session, user.id, now=now)) == 1  # only the late one is left
        enable_user(session, find_user(session, "late@example.org"))
    with unit_of_work(factory) as session:
        assert authenticate_session(session, after.token, now=now, lifetime=DAY) is not None


def test_handles_end_only_the_owners_own_sessions(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with unit_of_work(factory) as session:
        alice = make_user(session, "alice@example.org")
        mallory = make_user(session, "mallory@example.org")
        alices = start_session(session, alice, now=now, lifetime=DAY, user_agent="x" * 1000)
        start_session(session, mallory, now=now, lifetime=DAY)
        row = sessions_of(session, alice.id, now=now)[0]
        handle = session_handle(row)
        assert handle == handle_of_token(alices.token)
        assert not row.id.startswith(handle)  # pages never show the row's id
        assert row.user_agent == "x" * USER_AGENT_CHARS
        assert not end_session_by_handle(session, mallory.id, handle, now=now)
        assert not end_session_by_handle(session, alice.id, "no-such-handle", now=now)
    with unit_of_work(factory) as session:
        assert authenticate_session(session, alices.token, now=now, lifetime=DAY) is not None
        assert end_session_by_handle(session, alice.id, handle, now=now)
    with unit_of_work(factory) as session:
        assert authenticate_session(session, alices.token, now=now, lifetime=DAY) is None
        assert sessions_of(session, alice.id, now=now) == []
        assert len(sessions_of(session, mallory.id, now=now)) == 1
        # expired sessions are not listed
        assert sessions_of(session, mallory.id, now=now + 2 * DAY) == []
