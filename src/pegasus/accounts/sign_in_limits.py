"""Sign-in rate limits: failed sign-ins per account and per client address, in fixed windows
kept in the database (``sign_in_throttles``), so every replica counts the same attempts and
no other service is needed.

Before a password is checked, ``check`` refuses the attempt (``SignInRateLimitedError``, with
the seconds until the window ends) when the account or the address has used up its failures
in the current window; the password is then not checked at all, so guessing stops even
when the guess would be right. A wrong password adds one failure to both (``record_failure``,
one atomic upsert per key); a right one clears the account's count, never the address's (an
attacker who owns one account cannot reset the address's count with it). Unknown emails
count like known ones, so the limits do not tell which emails have accounts.

Why fixed windows in the database: an attempt costs an argon2 hash anyway, so two small
statements more are cheap; a fixed window needs one row per key (a sliding log would need a
row per attempt), and at a window's edge it lets through at most twice the limit, which
still stops guessing. Two attempts racing past ``check`` may both be counted a moment later,
a few failures over the limit at most.

The limits are module constants until they become settings (``SignInLimit`` below).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pegasus.db.models.accounts import SignInThrottle
from pegasus.errors import SignInRateLimitedError


@dataclass(frozen=True)
class SignInLimit:
    """At most ``max_failures`` failed sign-ins per ``window`` for one key of ``scope``."""

    scope: str
    max_failures: int
    window: timedelta


#: One account: ten wrong passwords per quarter of an hour, from anywhere.
ACCOUNT_LIMIT = SignInLimit("account", max_failures=10, window=timedelta(minutes=15))
#: One client address (an IPv6 /64): fifty per quarter of an hour, across all emails; a
#: classroom behind one address mistypes far fewer.
ADDRESS_LIMIT = SignInLimit("address", max_failures=50, window=timedelta(minutes=15))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def account_key(email: str) -> str:
    return f"{ACCOUNT_LIMIT.scope}:{_digest(email.strip().lower())}"


def address_key(address: str) -> str:
    """The key of a client address; an IPv6 address counts as its /64 (one site's network)."""
    text = address.strip()
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return f"{ADDRESS_LIMIT.scope}:{_digest(text)}"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        text = str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    elif isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        text = str(parsed.ipv4_mapped)
    return f"{ADDRESS_LIMIT.scope}:{_digest(text)}"


def _keys(email: str, address: str | None) -> list[tuple[SignInLimit, str]]:
    keys = [(ACCOUNT_LIMIT, account_key(email))]
    if address:
        keys.append((ADDRESS_LIMIT, address_key(address)))
    return keys


def check(session: Session, *, email: str, address: str | None, now: datetime) -> None:
    """``SignInRateLimitedError`` when the account or the address has no attempt left now."""
    keys = _keys(email, address)
    rows = {
        row.key: row
        for row in session.scalars(
            select(SignInThrottle).where(SignInThrottle.key.in_([key for _, key in keys]))
        )
    }
    wait = 0.0
    for limit, key in keys:
        row = rows.get(key)
        if row is None or row.failures < limit.max_failures:
            continue
        ends = row.window_started_at + limit.window
        if ends > now:
            wait = max(wait, (ends - now).total_seconds())
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        raise SignInRateLimitedError(
            "Too many sign-in attempts with a wrong password. Wait "
            f"{minutes} minute{'s' if minutes != 1 else ''}, then try again.",
            retry_after_seconds=math.ceil(wait),
        )


def record_failure(session: Session, *, email: str, address: str | None, now: datetime) -> None:
    """Count one failed sign-in against the account and the address (a new window when the
    last one ended), and drop rows whose window ended long ago."""
    for limit, key in _keys(email, address):
        session.execute(_count_failure(session, key, limit, now))
    longest = max(ACCOUNT_LIMIT.window, ADDRESS_LIMIT.window)
    session.execute(
        delete(SignInThrottle).where(SignInThrottle.window_started_at < now - 2 * longest)
    )


def clear_account(session: Session, *, email: str) -> None:
    """A right password: the account's failures are forgotten."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.key == account_key(email)))


def _count_failure(session: Session, key: str, limit: SignInLimit, now: datetime) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE``: one statement, atomic on both databases.
    Both SET expressions read the row as it was before the update."""
    current = SignInThrottle.window_started_at > now - limit.window
    new_row = {"key": key, "window_started_at": now, "failures": 1}
    if session.get_bind().dialect.name == "postgresql":
        pg_statement = postgresql.insert(SignInThrottle).values(**new_row)
        return pg_statement.on_conflict_do_update(
            index_elements=[SignInThrottle.key], set_=_counted(current, pg_statement.excluded)
        )
    lite_statement = sqlite.insert(SignInThrottle).values(**new_row)
    return lite_statement.on_conflict_do_update(
        index_elements=[SignInThrottle.key], set_=_counted(current, lite_statement.excluded)
    )


def _counted(current: ColumnElement[bool], excluded: Any) -> dict[str, Any]:
    """One more failure in the current window, or the first of a new one."""
    return {
        "failures": case((current, SignInThrottle.failures + 1), else_=1),
        "window_started_at": case(
            (current, SignInThrottle.window_started_at), else_=excluded.window_started_at
        ),
    }
