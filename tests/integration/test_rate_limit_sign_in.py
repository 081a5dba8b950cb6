"""Sign-in rate limits: per account and per client address, over real HTTP on both columns
(429, ``Retry-After``, a sentence that says what to do, on the log-in and the sign-up form),
and the counting itself on both databases (windows, reset on success, atomic counting).

The servers trust ``X-Forwarded-For`` from 127.0.0.1 (uvicorn's default for a local proxy),
so each test plays its own client addresses and the tests do not count against each other.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.accounts import sign_in_limits
from pegasus.accounts.self_service import sign_in
from pegasus.accounts.sign_in_limits import ACCOUNT_LIMIT, ADDRESS_LIMIT
from pegasus.config import DatabaseSettings
from pegasus.db.base import utcnow
from pegasus.db.models.accounts import SignInThrottle
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.errors import SignInRateLimitedError
from pegasus_testkit.deployment import PASSWORD, Deployment
from tests.factories import BACKENDS, make_user

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
WRONG = "not the password at all"


def attempt(
    deployment: Deployment, email: str, password: str, *, address: str, path: str = "/login"
) -> httpx.Response:
    """One sign-in from a fresh browser at ``address``."""
    headers = {"X-Forwarded-For": address}
    with httpx.Client(base_url=deployment.base_url, headers=headers, timeout=60) as client:
        form = client.get("/login")
        found = CSRF_FIELD.search(form.text)
        assert found, form.text
        data = {"email": email, "password": password, "csrf_token": found.group(1)}
        if path == "/signup":
            data |= {"password_confirm": password, "invite": "inv_forged"}
        return client.post(path, data=data)


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 0 < wait <= 15 * 60
    assert "pegasus_session" not in response.headers.get("set-cookie", "")
    assert "too many attempts with a wrong password" in response.text
    minutes = -(-wait // 60)
    assert f"You can try again in {minutes} minute" in response.text
    assert "x-content-type-options" in response.headers


@pytest.mark.postgres
@pytest.mark.redis
def test_an_account_is_limited_from_every_address(deployment: Deployment) -> None:
    deployment.create_user("guessed@example.org")
    deployment.create_user("neighbour@example.org")
    for i in range(ACCOUNT_LIMIT.max_failures):
        failed = attempt(deployment, "guessed@example.org", WRONG, address=f"198.51.100.{i + 1}")
        assert failed.status_code == 401, (i, failed.text)
    # the right password from a new address: refused, it is the account that is limited
    assert_limited(attempt(deployment, "guessed@example.org", PASSWORD, address="198.51.100.99"))
    assert_limited(attempt(deployment, "GUESSED@example.org ", PASSWORD, address="198.51.100.98"))
    # the sign-up form's "already have this account" path is no way around it
    assert_limited(
        attempt(
            deployment, "guessed@example.org", PASSWORD, address="198.51.100.97", path="/signup"
        )
    )
    # other accounts at those addresses are not affected
    fine = attempt(deployment, "neighbour@example.org", PASSWORD, address="198.51.100.1")
    assert fine.status_code == 303


@pytest.mark.postgres
@pytest.mark.redis
def test_an_address_is_limited_across_accounts(deployment: Deployment) -> None:
    deployment.create_user("behind-nat@example.org")
    address = "203.0.113.7"

    def fail(i: int) -> int:
        return attempt(deployment, f"nobody{i}@example.org", WRONG, address=address).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(fail, range(ADDRESS_LIMIT.max_failures)))
    assert statuses == [401] * ADDRESS_LIMIT.max_failures
    assert_limited(attempt(deployment, "behind-nat@example.org", PASSWORD, address=address))
    # the same account from elsewhere signs in; an IPv4-mapped IPv6 form is the same address
    assert (
        attempt(deployment, "behind-nat@example.org", PASSWORD, address="203.0.113.8").status_code
        == 303
    )
    assert_limited(
        attempt(deployment, "behind-nat@example.org", PASSWORD, address="::ffff:203.0.113.7")
    )


# --- the counting, on both databases ------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def factory(
    request: pytest.FixtureRequest, new_database: Callable[[str], str]
) -> Iterator[sessionmaker[Session]]:
    engine = build_engine(DatabaseSettings(url=SecretStr(new_database(request.param))))
    try:
        yield build_session_factory(engine)
    finally:
        engine.dispose()


def _fail(factory: sessionmaker[Session], email: str, address: str, now: datetime) -> None:
    with unit_of_work(factory) as session:
        assert sign_in(session, email, WRONG, address=address, now=now) is None


def test_a_window_ends_and_a_right_password_clears_the_account(
    factory: sessionmaker[Session],
) -> None:
    with unit_of_work(factory) as session:
        make_user(session, "window@example.org", password=PASSWORD)
    start = utcnow()
    for _ in range(ACCOUNT_LIMIT.max_failures):
        _fail(factory, "window@example.org", "192.0.2.1", start)
    with unit_of_work(factory) as session, pytest.raises(SignInRateLimitedError) as refused:
        sign_in(session, "window@example.org", PASSWORD, address="192.0.2.2", now=start)
    assert refused.value.retry_after_seconds == int(ACCOUNT_LIMIT.window.total_seconds())
    later = start + timedelta(minutes=10)
    with unit_of_work(factory) as session, pytest.raises(SignInRateLimitedError) as still:
        sign_in(session, "window@example.org", PASSWORD, address="192.0.2.2", now=later)
    assert still.value.retry_after_seconds == 5 * 60
    # the window is over: the right password works again
    after = start + ACCOUNT_LIMIT.window + timedelta(seconds=1)
    with unit_of_work(factory) as session:
        assert sign_in(session, "window@example.org", PASSWORD, address="192.0.2.2", now=after)
    # within one window, a right password forgets the account's failures before it
    for _ in range(ACCOUNT_LIMIT.max_failures - 1):
        _fail(factory, "window@example.org", "192.0.2.3", after)
    with unit_of_work(factory) as session:
        assert sign_in(session, "window@example.org", PASSWORD, address="192.0.2.3", now=after)
    for _ in range(ACCOUNT_LIMIT.max_failures - 1):
        _fail(factory, "window@example.org", "192.0.2.4", after)
    with unit_of_work(factory) as session:
        assert sign_in(session, "window@example.org", PASSWORD, address="192.0.2.4", now=after)
        # the address's count is kept: a right password never resets it
        key = sign_in_limits.address_key("192.0.2.4")
        row = session.scalar(select(SignInThrottle).where(SignInThrottle.key == key))
        assert row is not None
        assert row.failures == ACCOUNT_LIMIT.max_failures - 1


def test_failures_are_counted_atomically_by_concurrent_requests(
    factory: sessionmaker[Session],
) -> None:
    now = utcnow()
    start = threading.Barrier(8)

    def record(i: int) -> None:
        start.wait()
        with unit_of_work(factory) as session:
            sign_in_limits.record_failure(
                session, email="racer@example.org", address=f"2001:db8:1:2::{i}", now=now
            )

    threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with unit_of_work(factory) as session:
        counts = {row.key: row.failures for row in session.scalars(select(SignInThrottle))}
    # one account, and one IPv6 /64 for all eight addresses
    assert counts == {
        sign_in_limits.account_key("racer@example.org"): 8,
        sign_in_limits.address_key("2001:db8:1:2::ffff"): 8,
    }
    assert all(len(key) <= 80 for key in counts)
    assert "racer" not in "".join(counts)  # no email or address in the table
