"""Readiness: can this process reach the database, the object store and the queue?"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, text

from pegasus.queue.dispatch import Dispatcher
from pegasus.storage.base import ObjectStore

OK = "ok"


def _probe(check: Callable[[], object]) -> str:
    try:
        check()
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return OK


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_readiness(engine: Engine, store: ObjectStore, dispatcher: Dispatcher) -> dict[str, str]:
    """``{"database": "ok" | "unreachable: <Error>", "storage": ..., "queue": ...}``."""
    return {
        "database": _probe(lambda: _ping_database(engine)),
        "storage": _probe(store.check),
        "queue": _probe(dispatcher.ping),
    }


def failing_parts(checks: dict[str, str]) -> list[str]:
    return sorted(name for name, state in checks.items() if state != OK)
