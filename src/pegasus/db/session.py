"""Engine construction and the unit of work.

Services never commit. The request dependency and the task wrapper open a ``UnitOfWork``:
it commits on success and rolls back on error, and the jobs buffered with ``after_commit``
are sent only after a successful commit, so a worker never sees a row that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import DatabaseSettings

log = structlog.get_logger(__name__)

_AFTER_COMMIT_KEY = "pegasus.after_commit"


#: Connections a process needs besides its request and worker threads: the reconciler, the
#: heartbeat, the metrics collector and the readiness probe each hold one at most.
BACKGROUND_CONNECTIONS = 4


def build_engine(settings: DatabaseSettings, *, threads: int = 1) -> Engine:
    """An engine for ``settings.url``; SQLite gets WAL, foreign keys and a busy timeout.

    The pool holds ``settings.pool_size`` connections, or, when that is 0, one per thread
    that may use the database (``threads``) plus the background ones; it never overflows.
    Every thread holds at most one connection at a time, so a thread that waits for a
    connection waits only for another thread to finish its unit of work; when none frees
    up within ``pool_timeout_seconds`` the checkout raises ``sqlalchemy.exc.TimeoutError``,
    which the app answers with 503 ``service.busy``."""
    url = make_url(settings.url.get_secret_value())
    kwargs: dict[str, Any] = {
        "echo": settings.echo,
        "future": True,
        "pool_size": settings.pool_size or threads + BACKGROUND_CONNECTIONS,
        "max_overflow": 0,
        "pool_timeout": settings.pool_timeout_seconds,
    }
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # A pooled connection the server (or the network) dropped is replaced at checkout
        # instead of failing the first request after an outage.
        kwargs["pool_pre_ping"] = True
        if url.get_backend_name() == "postgresql":
            kwargs["connect_args"] = postgres_connect_args(settings, url.query.get("options"))
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def postgres_connect_args(
    settings: DatabaseSettings, url_options: str | tuple[str, ...] | None = None
) -> dict[str, Any]:
    """libpq parameters that keep a database outage from hanging a thread: a connection not
    made within ``connect_timeout_seconds`` fails (without it a server that accepts TCP but
    never answers holds the request for minutes), and the server cancels any statement
    running past ``statement_timeout_seconds`` (lock waits included). Options given in the
    URL's ``options`` query are kept."""
    options = [url_options] if isinstance(url_options, str) else list(url_options or ())
    statement_ms = round(settings.statement_timeout_seconds * 1000)
    options.append(f"-c statement_timeout={statement_ms}")
    return {"connect_timeout": settings.connect_timeout_seconds, "options": " ".join(options)}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def build_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def after_commit(session: Session, job: Callable[[], None]) -> None:
    """Run ``job`` once the current transaction of ``session`` commits; drop it on rollback."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(job)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success, rolls back on error, then sends buffered jobs."""
    session = factory()
    try:
        yield session
        session.commit()
        jobs: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT_KEY, [])
    except BaseException:
        session.rollback()
        session.info.pop(_AFTER_COMMIT_KEY, None)
        raise
    finally:
        session.close()
    for job in jobs:
        try:
            job()
        except Exception:
            # What the commit decided stands: a lost queue message is resent by the
            # reconciler, a failed cleanup leaves bytes for a sweep of unreferenced objects.
            log.exception("db.after_commit.failed")


def rows_changed(result: object) -> int:
    """How many rows the UPDATE or DELETE that gave ``result`` changed."""
    return int(cast("CursorResult[Any]", result).rowcount)
