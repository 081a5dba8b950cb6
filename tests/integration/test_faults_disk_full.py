"""The disk under the local object store fills up: uploads and stages fail with a clear,
specific error, nothing half-written is left readable, and once there is room again the
lecture is retried to the end with nothing lost.

The store's root is a tmpfs of 256 KiB (``pegasus_testkit.small_disk``), so the kernel itself
answers ENOSPC. Where mounting is not permitted that case is skipped, and the same test runs
on a local store that simulates the full disk (its file writes fail with ENOSPC once the
store holds as much as the small disk would).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol, cast

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pegasus.accounts.service import create_token, create_user
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.db.session import unit_of_work
from pegasus.runtime import Runtime, build_runtime
from pegasus.storage.local import LocalObjectStore, is_temp_name
from pegasus.testing import RecordingDispatcher
from pegasus_testkit.integrity import audit_lectures, file_sha256
from pegasus_testkit.lectures import Recordings
from pegasus_testkit.small_disk import MountRefusedError, Tmpfs, tmpfs

pytestmark = pytest.mark.slow

#: Holds the uploaded m4a (119 KiB), not the 16 kHz copy ingest writes (390 KiB) nor the
#: uploaded wav (538 KiB).
DISK_BYTES = 256 * 1024
ROOMY_BYTES = 64 * 1024 * 1024
FULL_CODE = "storage.full"


class SmallDisk(Protocol):
    root: Path

    def grow(self) -> None: ...


class _Mounted:
    """A real tmpfs: the kernel says ENOSPC."""

    def __init__(self, mount: Tmpfs) -> None:
        self.mount = mount
        self.root = mount.path

    def grow(self) -> None:
        self.mount.resize(ROOMY_BYTES)


class _FullDiskFile:
    """A file being written by the store, failing as a full disk's would."""

    def __init__(self, out: BinaryIO, disk: _Simulated) -> None:
        self._out = out
        self._disk = disk
        self._budget = disk.capacity - disk.used()

    def write(self, data: bytes) -> int:
        if len(data) > self._budget:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget -= len(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()

    def fileno(self) -> int:
        return self._out.fileno()

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> _FullDiskFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Simulated(LocalObjectStore):
    """Where mount is refused: a local store whose disk holds ``capacity`` bytes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.capacity = DISK_BYTES

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def grow(self) -> None:
        self.capacity = ROOMY_BYTES

    def _create(self, temp: Path, key: str) -> BinaryIO:
        return cast("BinaryIO", _FullDiskFile(super()._create(temp, key), self))


@pytest.fixture(params=["tmpfs", "simulated"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmallDisk]:
    if request.param == "simulated":
        yield _Simulated(tmp_path / "simulated-disk")
        return
    try:
        with tmpfs(tmp_path / "small-disk", DISK_BYTES) as mount:
            yield _Mounted(mount)
    except MountRefusedError as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); the simulated full disk runs instead")


@pytest.fixture
def runtime(tmp_path: Path, sqlite_url: str, disk: SmallDisk) -> Iterator[Runtime]:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(sqlite_url)),
        storage=StorageSettings(root=disk.root),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}", max_attempts=2),
        server=ServerSettings(run_consumer=False),
    )
    built = build_runtime(settings, dispatcher=RecordingDispatcher(), serving=True)
    if isinstance(disk, _Simulated):
        built.store = disk
    yield built
    built.close()


def _drain(runtime: Runtime) -> None:
    """Run every stage message sent, at once (retry delays ignored), until none is left."""
    dispatcher = runtime.dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    for _ in range(20):
        sent = dispatcher.take()
        if not sent:
            return
        for stage_run_id, _delay in sent:
            runtime.runner.run(stage_run_id)
    raise AssertionError("the pipeline did not settle")


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_full_disk_fails_clearly_leaves_nothing_half_written_and_recovers(
    runtime: Runtime, disk: SmallDisk, recordings: Recordings
) -> None:
    database_url = runtime.settings.database.url.get_secret_value()
    with unit_of_work(runtime.session_factory) as session:
        create_user(session, "full-disk@example.org", "correct horse battery staple")
        token = create_token(session, "full-disk@example.org")
    with TestClient(create_app(runtime.settings, runtime)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        course = client.post("/api/v1/courses", json={"name": "Full disk"}).json()

        # An upload larger than the room left: refused, and not a byte of it stays.
        with recordings.lecture_wav.open("rb") as fh:
            refused = client.post(
                f"/api/v1/courses/{course['id']}/lectures",
                files={"file": ("big.wav", fh, "audio/wav")},
                data={"preset": "quick-review"},
            )
        assert refused.status_code in (503, 507), refused.text
        assert refused.json()["error"]["code"] == FULL_CODE, refused.text
        assert _files(disk.root) == [], "a refused upload left bytes behind"
        assert client.get(f"/api/v1/courses/{course['id']}/lectures").json() == []

        # An upload that fits; ingest's 16 kHz copy does not.
        with recordings.lecture_m4a.open("rb") as fh:
            accepted = client.post(
                f"/api/v1/courses/{course['id']}/lectures",
                files={"file": ("lecture.m4a", fh, "audio/mp4")},
                data={"preset": "quick-review"},
            )
        assert accepted.status_code == 202, accepted.text
        lecture_id = accepted.json()["id"]
        _drain(runtime)
        lecture = client.get(f"/api/v1/lectures/{lecture_id}").json()
        assert lecture["status"] == "failed", lecture
        ingest = next(s for s in lecture["stages"] if s["stage"] == "ingest")
        assert ingest["error"]["code"] == FULL_CODE, ingest
        assert "full" in ingest["error"]["message"].lower(), ingest
        stored = _files(disk.root)
        assert [Path(name).name for name in stored] == ["source"], stored
        assert not any(is_temp_name(Path(name).name) for name in stored)
        sources = {lecture_id: file_sha256(recordings.lecture_m4a)}
        assert audit_lectures(database_url, runtime.store, sources) == []

        # Room again: the learner's Retry takes the lecture to the end, from what was kept.
        disk.grow()
        retried = client.post(f"/api/v1/lectures/{lecture_id}/retry")
        assert retried.status_code == 202, retried.text
        _drain(runtime)
        lecture = client.get(f"/api/v1/lectures/{lecture_id}").json()
    assert lecture["status"] == "succeeded", lecture
    assert audit_lectures(database_url, runtime.store, sources) == []
