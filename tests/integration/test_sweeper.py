"""The sweeper, on both columns (SQLite with the local store, PostgreSQL with S3 served by
moto): it removes the stored objects no row references once they are older than the grace
period, and the scratch directories of workers that died on this host; it keeps every
object a row or a live upload references, every object younger than the grace period,
everything outside Pegasus's prefixes, and the directories of live workers and of other
hosts. It counts what it removed (``pegasus_sweeper_removed_total``) and logs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from pegasus.config import DatabaseSettings, QueueSettings, Settings, StorageSettings
from pegasus.courses.service import sync_builtin_presets
from pegasus.db.base import utcnow
from pegasus.db.models import Artifact, Upload
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline.sweeper import Sweeper
from pegasus.pipeline.workdirs import make_workdir, workdir_prefix
from pegasus.runtime import build_runtime
from pegasus.storage.base import ObjectStore
from pegasus.storage.keys import lecture_key
from pegasus.storage.local import LocalObjectStore
from pegasus.storage.s3 import S3ObjectStore
from tests.factories import make_lecture

COLUMNS = [
    pytest.param(("sqlite", "local"), id="sqlite-local"),
    pytest.param(("postgresql", "s3"), id="postgresql-s3", marks=pytest.mark.postgres),
]
GRACE = timedelta(hours=1)


@dataclass
class World:
    factory: sessionmaker[Session]
    store: ObjectStore
    course_id: str
    lecture_id: str
    upload_id: str


@pytest.fixture(params=COLUMNS)
def world(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[World]:
    database, backend = request.param
    engine = build_engine(DatabaseSettings(url=SecretStr(new_database(database))))
    store: ObjectStore
    if backend == "local":
        store = LocalObjectStore(tmp_path / "objects")
    else:
        store = S3ObjectStore(
            f"pegasus-{uuid.uuid4().hex[:12]}",
            endpoint_url=request.getfixturevalue("s3_endpoint"),
            access_key_id="testing",
            secret_access_key="testing-secret",
            create_bucket=True,
        )
    store.check()
    factory = build_session_factory(engine)
    with unit_of_work(factory) as session:
        sync_builtin_presets(session)
        lecture = make_lecture(session, status="succeeded")
        upload_id = str(uuid.uuid4())
        session.add(
            Upload(
                id=upload_id,
                owner_id=lecture.owner_id,
                course_id=lecture.course_id,
                lecture_id=str(uuid.uuid4()),
                preset_key="quick-review",
                filename="week2.m4a",
                content_type="audio/mp4",
                length_bytes=100,
                offset_bytes=40,
                storage_state={
                    "key": lecture_key(lecture.course_id, "in-flight", "source"),
                    "staging": f"uploads/{upload_id}/",
                    "size": 40,
                },
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        ids = (lecture.course_id, lecture.id)
    yield World(factory, store, *ids, upload_id)
    engine.dispose()


def _reference(world: World, kind: str, key: str) -> None:
    with unit_of_work(world.factory) as session:
        session.add(
            Artifact(
                lecture_id=world.lecture_id,
                kind=kind,
                key=key,
                content_type="application/json",
                size_bytes=2,
                sha256="",
            )
        )


def _dead_pid() -> int:
    """The id of a process that has just exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_sweeper_removes_orphans_and_dead_workers_dirs_and_keeps_the_rest(
    world: World, tmp_path: Path
) -> None:
    def key(name: str, lecture: str | None = None) -> str:
        return lecture_key(world.course_id, lecture or world.lecture_id, name)

    referenced = key("transcript.v3-1a2b3c4d.json")
    orphans = [
        key("transcript.v2-9f8e7d6c.json"),  # an edit whose commit failed, its hook lost
        key("source", lecture="never-committed"),  # an upload whose process was killed
    ]
    kept = [
        referenced,
        f"uploads/{world.upload_id}/data",  # a resumable upload still in progress
        key("source", lecture="in-flight"),  # where that upload completes to
        "backups/pegasus-backup-20261207T000000Z/manifest.json",  # not Pegasus's prefix
    ]
    for name in orphans + kept:
        world.store.put_bytes(name, b"{}")
    _reference(world, "transcript", referenced)
    time.sleep(1.1)  # S3 keeps modification times to the second
    cutoff = utcnow()
    time.sleep(1.1)
    young = key("study-kit.v4-5e6f7a8b.json")  # stored a moment ago; its commit may follow
    world.store.put_bytes(young, b"{}")

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    dead = _dead_pid()
    dead_dir = scratch / f"{workdir_prefix('transcribe', pid=dead)}k1ll3d_x"
    (dead_dir / "upload").mkdir(parents=True)
    (dead_dir / "upload" / "week1.m4a").write_bytes(b"half a recording")
    live_dir = make_workdir("generate", root=scratch)  # this process: alive
    elsewhere = scratch / f"{workdir_prefix('ingest', pid=dead, host='otherhost')}abcdefgh"
    elsewhere.mkdir()
    unrelated = scratch / "pegasus-ingest-legacy1"
    unrelated.mkdir()

    registry = CollectorRegistry()
    sweeper = Sweeper(
        world.factory, world.store, PipelineMetrics(registry), grace=GRACE, workdir_root=scratch
    )
    with capture_logs() as logs:
        report = sweeper.sweep(cutoff + GRACE)

    remaining = {stored.key for stored in world.store.list_prefix("")}
    assert remaining == {*kept, young}
    assert (report.objects_removed, report.objects_kept_young, report.objects_referenced) == (
        2,
        1,
        3,
    )
    assert world.store.get_bytes(referenced) == b"{}"
    assert sorted(path.name for path in scratch.iterdir()) == sorted(
        [live_dir.name, elsewhere.name, unrelated.name]
    )
    assert report.workdirs_removed == 1
    removed = registry.get_sample_value
    assert removed("pegasus_sweeper_removed_total", {"kind": "object"}) == 2
    assert removed("pegasus_sweeper_removed_total", {"kind": "workdir"}) == 1
    removed_keys = [str(e["key"]) for e in logs if e["event"] == "sweeper.object.removed"]
    assert sorted(removed_keys) == sorted(orphans)
    removed_dirs = [e["path"] for e in logs if e["event"] == "sweeper.workdir.removed"]
    assert removed_dirs == [str(dead_dir)]
    (finished,) = [e for e in logs if e["event"] == "sweeper.finished"]
    assert finished["objects_removed"] == 2


def test_an_object_rewritten_after_it_was_listed_is_kept(world: World) -> None:
    """The store's delete checks the age again: what a stage rewrote meanwhile stays."""
    key = lecture_key(world.course_id, world.lecture_id, "transcript.json")
    world.store.put_bytes(key, b"{}")
    assert world.store.delete(key, unmodified_since=utcnow() - GRACE) is False
    assert world.store.exists(key)
    world.store.put_bytes(key + ".bak", b"{}")
    assert world.store.delete(key, unmodified_since=utcnow() + GRACE) is True
    assert world.store.exists(key + ".bak")  # one key, not a prefix
    assert world.store.delete(key) is False


def test_the_reconciler_runs_the_sweeper_at_most_once_an_interval(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(sqlite_url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'queue.db'}"),
    )
    runtime = build_runtime(settings)
    try:
        orphan = "courses/c1/lectures/l1/source"
        runtime.store.put_bytes(orphan, b"left by a killed upload")
        path = tmp_path / "objects" / orphan
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(path, (two_days_ago, two_days_ago))

        reconciler = runtime.reconciler()
        reconciler.run_once()  # a reconcile pass, then its housekeeping: the sweep
        assert not runtime.store.exists(orphan)

        runtime.store.put_bytes(orphan, b"again")
        os.utime(path, (two_days_ago, two_days_ago))
        reconciler.run_once()  # within the interval: no second sweep
        assert runtime.store.exists(orphan)
        assert runtime.sweeper(utcnow() + runtime.sweeper.interval) is not None
        assert not runtime.store.exists(orphan)
    finally:
        runtime.close()
