"""Readiness: can this process reach the parts it needs (database, object store, queue)?

The composition root names the parts and passes a probe for each (a callable that raises
when the part is down), so this module depends on none of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Engine, text

OK = "ok"

Probe = Callable[[], object]


def _probe(check: Probe) -> str:
    try:
        check()
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return OK


def ping_database(engine: Engine) -> None:
    """Raise if ``engine`` cannot run ``SELECT 1``."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_readiness(probes: Mapping[str, Probe]) -> dict[str, str]:
    """``{part: "ok" | "unreachable: <Error>"}`` for each named probe, such as
    ``{"database": ..., "storage": ..., "queue": ...}``."""
    return {name: _probe(check) for name, check in probes.items()}


def failing_parts(checks: dict[str, str]) -> list[str]:
    return sorted(name for name, state in checks.items() if state != OK)
