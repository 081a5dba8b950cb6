"""The background purge on SQLite and PostgreSQL with the local store: retried until done.

The store is the real local store; the one that fails is that store with one operation made
to fail the way an unreachable storage service does (``StorageUnavailableError``), so the
purge's own retry and verification paths are what is tested.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import DatabaseSettings, StorageSettings
from pegasus.db.base import utcnow
from pegasus.db.models import Artifact, AuditEvent, Course, Deletion, Lecture, StageRun, User
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.deletion import purge, service
from pegasus.errors import StorageUnavailableError
from pegasus.storage.base import ObjectStore
from pegasus.storage.factory import build_object_store
from pegasus.storage.keys import lecture_key
from tests.factories import BACKENDS, make_course, make_lecture, make_stage_run, make_user


class FlakyStore:
    """The real store, whose ``delete_prefix`` fails ``failures`` times first; with
    ``late_write`` it stores one more object under the prefix right after the first
    successful delete (a late write the verification must catch)."""

    def __init__(self, store: ObjectStore, *, failures: int = 0, late_write: str | None = None):
        self._store = store
        self.failures = failures
        self.late_write = late_write

    def delete_prefix(self, prefix: str) -> int:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailableError("storage is down (test)")
        removed = self._store.delete_prefix(prefix)
        if self.late_write is not None:
            self._store.put_bytes(self.late_write, b"late", content_type="text/plain")
            self.late_write = None
        return removed

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def new_database_fixture(backend: str) -> str:
    return "sqlite_url" if backend == "sqlite" else "postgres_url"


@dataclass
class World:
    factory: sessionmaker[Session]
    store: ObjectStore
    admin_id: str
    owner_id: str
    course_id: str
    lecture_id: str
    keys: list[str]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = request.getfixturevalue(new_database_fixture(request.param))
    engine = build_engine(DatabaseSettings(url=SecretStr(url)))
    factory = build_session_factory(engine)
    store = build_object_store(StorageSettings(root=tmp_path / "objects"))
    with unit_of_work(factory) as session:
        admin = make_user(session, admin=True)
        course = make_course(session)
        lecture = make_lecture(session, course, status="succeeded")
        make_stage_run(session, lecture, "ingest")
        keys = []
        for kind in ("source", "transcript", "kit"):
            key = lecture_key(course.id, lecture.id, f"{kind}.bin")
            stored = store.put_bytes(key, kind.encode(), content_type="text/plain")
            session.add(
                Artifact(
                    lecture_id=lecture.id,
                    kind=kind,
                    key=key,
                    content_type="text/plain",
                    size_bytes=stored.size_bytes,
                    sha256=stored.sha256 or "",
                )
            )
            keys.append(key)
        ids = (admin.id, course.owner_id, course.id, lecture.id)
    yield World(factory, store, *ids, keys=keys)
    engine.dispose()


def _request_course_deletion(world: World) -> str:
    with unit_of_work(world.factory) as session:
        owner = session.get(User, world.owner_id)
        assert owner is not None
        return service.request_course_deletion(session, owner, world.course_id, utcnow()).id


def _deletion(world: World, deletion_id: str) -> Deletion:
    with unit_of_work(world.factory) as session:
        found = session.get(Deletion, deletion_id)
        assert found is not None
        return found


def _count(world: World, model: Any, *conditions: ColumnElement[bool]) -> int:
    with unit_of_work(world.factory) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def test_a_storage_outage_puts_the_purge_off_until_it_succeeds(world: World) -> None:
    deletion_id = _request_course_deletion(world)
    flaky = FlakyStore(world.store, failures=1)
    now = utcnow()

    first = purge.purge_one(world.factory, cast("ObjectStore", flaky), deletion_id, now=now)
    assert (first.outcome, first.reason) == ("deferred", "storage.unavailable")
    pending = _deletion(world, deletion_id)
    assert (pending.status, pending.attempts, pending.last_error_code) == (
        "pending",
        1,
        "storage.unavailable",
    )
    assert pending.next_attempt_at > now
    # Nothing in the database went before the objects did.
    assert _count(world, Lecture, Lecture.id == world.lecture_id) == 1
    assert _count(world, Artifact, Artifact.lecture_id == world.lecture_id) == 3

    assert purge.purge_due(world.factory, cast("ObjectStore", flaky), now) == 0  # not due
    later = pending.next_attempt_at + timedelta(seconds=1)
    assert purge.purge_due(world.factory, cast("ObjectStore", flaky), later) == 1

    done = _deletion(world, deletion_id)
    assert done.status == "completed"
    assert done.attempts == 2
    assert done.removed["objects"] == 3
    assert done.removed["artifacts"] == 3
    assert done.removed["courses"] == 1
    assert done.verification["passed"] is True
    assert done.verification["objects_left"] == 0
    assert not any(world.store.exists(key) for key in world.keys)
    assert _count(world, Course, Course.id == world.course_id) == 0
    assert _count(world, StageRun, StageRun.lecture_id == world.lecture_id) == 0
    actions = _count(
        world,
        AuditEvent,
        AuditEvent.subject_id == world.course_id,
        AuditEvent.action == "deletion.completed",
    )
    assert actions == 1


def test_a_late_write_fails_the_verification_and_the_next_attempt_removes_it(
    world: World,
) -> None:
    deletion_id = _request_course_deletion(world)
    late = lecture_key(world.course_id, world.lecture_id, "late.bin")
    flaky = FlakyStore(world.store, late_write=late)
    first = purge.purge_one(world.factory, cast("ObjectStore", flaky), deletion_id, now=utcnow())
    assert (first.outcome, first.reason) == ("deferred", "deletion.verification_failed")
    checked = _deletion(world, deletion_id)
    assert checked.verification["objects_left"] == 1
    assert checked.verification["passed"] is False
    again = purge.purge_one(
        world.factory, cast("ObjectStore", flaky), deletion_id, now=checked.next_attempt_at
    )
    assert again.outcome == "completed"
    assert not world.store.exists(late)


def test_the_purge_waits_for_a_stage_a_live_worker_still_runs(world: World) -> None:
    now = utcnow()
    with unit_of_work(world.factory) as session:
        lecture = session.get(Lecture, world.lecture_id)
        assert lecture is not None
        run = make_stage_run(session, lecture, "generate", status="running")
        run.worker_id = "worker-on-another-host"
        run.lease_expires_at = now + timedelta(seconds=30)
    deletion_id = _request_course_deletion(world)
    now = utcnow()
    waiting = purge.purge_one(world.factory, world.store, deletion_id, now=now)
    assert (waiting.outcome, waiting.reason) == ("deferred", "deletion.work_in_progress")
    assert all(world.store.exists(key) for key in world.keys)
    # Once the lease has run out the worker is gone; the purge goes ahead.
    after = now + timedelta(seconds=31)
    assert purge.purge_one(world.factory, world.store, deletion_id, now=after).outcome == (
        "completed"
    )


def test_replicas_purging_at_once_complete_it_once(world: World) -> None:
    deletion_id = _request_course_deletion(world)
    now = utcnow()
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def replica() -> None:
        barrier.wait()
        outcomes.append(purge.purge_one(world.factory, world.store, deletion_id, now=now).outcome)

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["completed", "skipped", "skipped"]
    completions = _count(
        world,
        AuditEvent,
        AuditEvent.subject_id == world.course_id,
        AuditEvent.action == "deletion.completed",
    )
    assert completions == 1


def test_someone_elses_course_is_not_found_and_an_admin_may_delete_it(world: World) -> None:
    with unit_of_work(world.factory) as session:
        stranger = make_user(session)
        with pytest.raises(Exception, match="no such course"):
            service.request_course_deletion(session, stranger, world.course_id, utcnow())
    assert _count(world, Course, Course.id == world.course_id, Course.deleted_at.is_(None)) == 1
    with unit_of_work(world.factory) as session:
        admin = session.get(User, world.admin_id)
        assert admin is not None
        deletion = service.request_course_deletion(session, admin, world.course_id, utcnow())
        assert deletion.owner_id == world.owner_id
        assert deletion.requested_by == world.admin_id
