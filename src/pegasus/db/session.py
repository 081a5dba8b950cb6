"""Engine construction and the unit of work.

Services never commit. The request dependency and the task wrapper open a ``UnitOfWork``:
it commits on success and rolls back on error, and the jobs buffered with ``after_commit``
are sent only after a successful commit, so a worker never sees a row that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import DatabaseSettings

log = structlog.get_logger(__name__)

_AFTER_COMMIT_KEY = "pegasus.after_commit"


def build_engine(settings: DatabaseSettings) -> Engine:
    """An engine for ``settings.url``; SQLite gets WAL, foreign keys and a busy timeout."""
    url = make_url(settings.url.get_secret_value())
    kwargs: dict[str, Any] = {"echo": settings.echo, "future": True}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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
            # The row is committed and queued; the reconciler will resend the message.
            log.exception("queue.enqueue.failed")
