"""Raw audio retention on SQLite with the local store and on PostgreSQL with S3 (moto): the
job deletes the recording (``source``) and its 16 kHz copy (``audio``) of each settled
lecture whose course's retention period has passed since upload, removes their rows and
sets ``audio_deleted_at``, and leaves everything else byte-identical: that lecture's
transcript, kit and exports, every object of an unexpired lecture (also one of a course
whose own period is longer than the default), a lecture in flight, a lecture or course
being deleted. It counts and logs what it deleted, runs at most once per interval, and a
failed object delete is left to the sweeper."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from pegasus.config import (
    DatabaseSettings,
    PrivacySettings,
    QueueSettings,
    Settings,
    StorageSettings,
)
from pegasus.db.models import Artifact, Course, Lecture
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.errors import StorageUnavailableError
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline.export import export_kind, export_name
from pegasus.pipeline.retention import AudioRetention, expired_lectures, release_recording
from pegasus.pipeline.sweeper import sweep_objects
from pegasus.runtime import build_runtime
from pegasus.storage.base import ObjectStore
from pegasus.storage.keys import lecture_key
from pegasus.storage.local import LocalObjectStore
from pegasus.storage.s3 import S3ObjectStore
from pegasus.testing import FakeClock
from tests.factories import make_course, make_lecture, make_user

COLUMNS = [
    pytest.param(("sqlite", "local"), id="sqlite-local"),
    pytest.param(("postgresql", "s3"), id="postgresql-s3", marks=pytest.mark.postgres),
]
NOW = FakeClock().now
DEFAULT_DAYS = 365
COURSE_DAYS = 30
#: What each fake lecture stores: (artifact kind, object name).
OBJECTS = [
    ("source", "source"),
    ("audio", "audio-16k.wav"),
    ("transcript", "transcript.json"),
    ("kit", "study-kit.json"),
    (export_kind("md"), export_name("md")),
    (export_kind("zip"), export_name("zip")),
]


@dataclass
class World:
    factory: sessionmaker[Session]
    store: ObjectStore
    database_url: str
    lectures: dict[str, str] = field(default_factory=dict)  # name -> id


def _store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if backend == "local":
        return LocalObjectStore(tmp_path / "objects")
    return S3ObjectStore(
        f"pegasus-{uuid.uuid4().hex[:12]}",
        endpoint_url=request.getfixturevalue("s3_endpoint"),
        access_key_id="testing",
        secret_access_key="testing-secret",
        create_bucket=True,
    )


def _add_lecture(
    session: Session,
    store: ObjectStore,
    course: Course,
    *,
    age: timedelta,
    status: str = "succeeded",
    deleted: bool = False,
    audio_name: str = "audio-16k.wav",
) -> str:
    """A lecture uploaded ``age`` before NOW, with every object a processed lecture has."""
    lecture = make_lecture(session, course, status=status)
    lecture.created_at = NOW - age
    lecture.deleted_at = NOW - timedelta(minutes=5) if deleted else None
    for kind, name in OBJECTS:
        name = audio_name if kind == "audio" else name
        key = lecture_key(course.id, lecture.id, name)
        stored = store.put_bytes(key, f"{kind} of {lecture.id}".encode() + uuid.uuid4().bytes)
        session.add(
            Artifact(
                lecture_id=lecture.id,
                kind=kind,
                key=key,
                content_type="application/octet-stream",
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
            )
        )
    session.flush()
    return lecture.id


@pytest.fixture(params=COLUMNS)
def world(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[World]:
    database, backend = request.param
    url = new_database(database)
    engine = build_engine(DatabaseSettings(url=SecretStr(url)))
    factory = build_session_factory(engine)
    store = _store(backend, request, tmp_path)
    store.check()
    world = World(factory, store, url)
    day = timedelta(days=1)
    with unit_of_work(factory) as session:
        owner = make_user(session)
        short = make_course(session, owner, "Short retention")
        short.audio_retention_days = COURSE_DAYS
        default = make_course(session, owner, "Server default")
        long_kept = make_course(session, owner, "Long retention")
        long_kept.audio_retention_days = 1000  # longer than the server's default
        going = make_course(session, owner, "Being deleted")
        going.deleted_at = NOW - timedelta(hours=1)
        add = world.lectures.__setitem__
        add("at_the_limit", _add_lecture(session, store, short, age=COURSE_DAYS * day))
        young = COURSE_DAYS * day - timedelta(seconds=1)
        add("just_young", _add_lecture(session, store, short, age=young))
        old = (DEFAULT_DAYS + 1) * day
        v2 = "audio-16k.v2.wav"  # the row of a re-run ingest points to a new version
        add(
            "old_failed",
            _add_lecture(session, store, default, age=old, status="failed", audio_name=v2),
        )
        add("default_young", _add_lecture(session, store, default, age=(DEFAULT_DAYS - 1) * day))
        add("long_course", _add_lecture(session, store, long_kept, age=(DEFAULT_DAYS + 100) * day))
        add("in_flight", _add_lecture(session, store, short, age=400 * day, status="processing"))
        add("queued", _add_lecture(session, store, default, age=400 * day, status="queued"))
        add("tombstoned", _add_lecture(session, store, short, age=400 * day, deleted=True))
        add("course_going", _add_lecture(session, store, going, age=400 * day))
        # The plain-named copy of a re-run ingest, left next to the versioned one.
        store.put_bytes(
            lecture_key(default.id, world.lectures["old_failed"], "audio-16k.wav"), b"older copy"
        )
    yield world
    engine.dispose()


EXPIRED = ("at_the_limit", "old_failed")


def _objects(store: ObjectStore) -> dict[str, str]:
    return {
        stored.key: hashlib.sha256(store.get_bytes(stored.key)).hexdigest()
        for stored in store.list_prefix("courses/")
    }


def _rows(factory: sessionmaker[Session]) -> dict[str, Any]:
    """Every artifact row and every lecture's fields, as plain values."""
    with unit_of_work(factory) as session:
        artifacts = {
            (a.lecture_id, a.kind): (a.key, a.size_bytes, a.sha256, a.version, a.content_type)
            for a in session.scalars(select(Artifact))
        }
        lectures = {
            lec.id: (
                lec.status,
                lec.title,
                lec.deleted_at,
                lec.audio_deleted_at,
                lec.size_bytes,
                lec.sha256,
                lec.duration_seconds,
                lec.created_at,
            )
            for lec in session.scalars(select(Lecture))
        }
    return {"artifacts": artifacts, "lectures": lectures}


def _job(
    world: World, registry: CollectorRegistry, store: ObjectStore | None = None
) -> AudioRetention:
    return AudioRetention(
        world.factory,
        store or world.store,
        PipelineMetrics(registry),
        default_days=DEFAULT_DAYS,
        interval=timedelta(hours=1),
    )


def test_expired_recordings_are_deleted_and_nothing_else_is_touched(world: World) -> None:
    objects_before, rows_before = _objects(world.store), _rows(world.factory)
    registry = CollectorRegistry()

    with capture_logs() as logs:
        report = _job(world, registry)(NOW)

    assert report is not None
    assert (report.lectures, report.objects_deleted, report.objects_left) == (2, 5, 0)
    ids = {world.lectures[name]: name for name in EXPIRED}
    # Objects: exactly the recordings of the expired lectures are gone (for old_failed also
    # the plain-named copy of its ASR audio); every other object is byte-identical.
    objects_after = _objects(world.store)
    gone = set(objects_before) - set(objects_after)
    assert {key.rsplit("/", 1)[1] for key in gone} == {
        "source",
        "audio-16k.wav",
        "audio-16k.v2.wav",
    }
    assert {key.split("/")[3] for key in gone} == set(ids)
    assert len(gone) == 5
    assert objects_after == {k: v for k, v in objects_before.items() if k not in gone}
    # Rows: the expired lectures lost their source and audio rows and got audio_deleted_at;
    # every other row and field is as it was.
    rows_after = _rows(world.factory)
    removed_rows = set(rows_before["artifacts"]) - set(rows_after["artifacts"])
    assert removed_rows == {(i, kind) for i in ids for kind in ("source", "audio")}
    assert rows_after["artifacts"] == {
        k: v for k, v in rows_before["artifacts"].items() if k not in removed_rows
    }
    for lecture_id, before in rows_before["lectures"].items():
        after = rows_after["lectures"][lecture_id]
        if lecture_id in ids:
            assert after[3] == NOW
            assert after[:3] + after[4:] == before[:3] + before[4:]
        else:
            assert after == before, lecture_id
    # Counted by kind and logged by lecture id, never a key's content.
    sample = registry.get_sample_value
    assert sample("pegasus_retention_audio_deleted_total", {"kind": "source"}) == 2
    assert sample("pegasus_retention_audio_deleted_total", {"kind": "audio"}) == 3
    deleted = sorted(e["lecture_id"] for e in logs if e["event"] == "retention.audio.deleted")
    assert deleted == sorted(ids)


def test_it_runs_at_most_once_per_interval_and_again_finds_nothing(world: World) -> None:
    job = _job(world, CollectorRegistry())
    first = job(NOW)
    assert first is not None
    assert first.lectures == 2
    assert job(NOW + timedelta(minutes=59)) is None
    with capture_logs() as logs:
        again = job(NOW + timedelta(hours=1))
    assert again is not None
    # An hour on, only the lecture that was a second short of its 30 days is due.
    assert (again.lectures, again.objects_deleted) == (1, 2)
    (event,) = [e for e in logs if e["event"] == "retention.audio.deleted"]
    assert event["lecture_id"] == world.lectures["just_young"]


def test_a_lecture_retried_after_it_was_picked_keeps_its_recording(world: World) -> None:
    """The claim re-checks the state: a retry that started in between wins."""
    with unit_of_work(world.factory) as session:
        due = expired_lectures(session, now=NOW, default_days=DEFAULT_DAYS)
    assert sorted(due) == sorted(world.lectures[name] for name in EXPIRED)
    retried = world.lectures["old_failed"]
    with unit_of_work(world.factory) as session:
        lecture = session.get(Lecture, retried)
        assert lecture is not None
        lecture.status = "queued"
    before = _objects(world.store)
    with unit_of_work(world.factory) as session:
        assert release_recording(session, retried, now=NOW) is None
    assert _objects(world.store) == before
    with unit_of_work(world.factory) as session:
        kinds = set(session.scalars(select(Artifact.kind).where(Artifact.lecture_id == retried)))
        lecture = session.get(Lecture, retried)
        assert lecture is not None
        assert lecture.audio_deleted_at is None
    assert {"source", "audio"} <= kinds


class _DeletesFail:
    """The store, with every delete failing as if storage were down."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def delete(self, key: str, *, unmodified_since: datetime | None = None) -> bool:
        raise StorageUnavailableError("storage is down", key=key)


def test_objects_a_failed_delete_left_are_swept_later(world: World) -> None:
    down: Any = _DeletesFail(world.store)
    with capture_logs() as logs:
        report = _job(world, CollectorRegistry(), down).run(NOW)

    assert (report.lectures, report.objects_deleted, report.objects_left) == (2, 0, 5)
    assert [e for e in logs if e["event"] == "retention.object.delete_failed"]
    with unit_of_work(world.factory) as session:  # the rows are gone all the same
        left = session.scalars(
            select(Artifact).where(
                Artifact.lecture_id.in_([world.lectures[n] for n in EXPIRED]),
                Artifact.kind.in_(["source", "audio"]),
            )
        ).all()
        assert left == []
    # No row references them now: the sweeper removes them after its grace period.
    removed, _young, _referenced = sweep_objects(
        world.factory, world.store, now=NOW + timedelta(days=1000), grace=timedelta(hours=24)
    )
    assert removed == 5  # two sources, three ASR copies (old_failed had two)


def test_the_runtime_runs_it_with_the_deployment_default(world: World, tmp_path: Path) -> None:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(world.database_url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        privacy=PrivacySettings(audio_retention_days=200, retention_interval_minutes=5),
    )
    runtime = build_runtime(settings)
    try:
        assert runtime.delete_expired_audio in runtime.reconciler()._housekeeping
        assert runtime.retention.default_days == 200
        assert runtime.retention.interval == timedelta(minutes=5)
        with unit_of_work(runtime.session_factory) as session:
            due = expired_lectures(session, now=NOW, default_days=200)
        # With 200 days the "default_young" lecture (364 days old) is due too.
        assert world.lectures["default_young"] in due
        assert world.lectures["just_young"] not in due
    finally:
        runtime.close()
