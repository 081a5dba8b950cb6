"""`pegasus backup create | verify | restore` on both columns: SQLite with a local store, and
PostgreSQL with S3 (a moto server process). Real databases, real files, real pg_dump."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from pegasus.backup.errors import BackupCorruptError, BackupTargetNotEmptyError
from pegasus.backup.location import SetLocation
from pegasus.backup.service import (
    BackupSet,
    Check,
    create_backup,
    restore_backup,
    verify_backup,
    verify_restore,
)
from pegasus.config import DatabaseSettings, Settings, StorageSettings
from pegasus.db.models import Artifact, Lecture, TranscriptSegment
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.storage.base import ObjectStore
from pegasus.storage.factory import build_object_store
from pegasus.storage.keys import lecture_key
from pegasus_testkit.cli import PEGASUS, clean_env
from pegasus_testkit.databases import (
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
)
from tests.factories import make_course, make_lecture

TITLE = "Cell biology — naïve café ☕"


# --- helpers ---------------------------------------------------------------------------------


def _local(root: Path) -> StorageSettings:
    return StorageSettings(backend="local", root=root)


def _s3(endpoint: str, bucket: str | None = None) -> StorageSettings:
    return StorageSettings(
        backend="s3",
        s3_bucket=bucket or f"pegasus-{uuid.uuid4().hex[:10]}",
        s3_endpoint_url=endpoint,
        s3_access_key_id=SecretStr("testing"),
        s3_secret_access_key=SecretStr("testing-secret"),
        s3_create_bucket=True,
    )


def _settings(database_url: str, storage: StorageSettings) -> Settings:
    return Settings(database=DatabaseSettings(url=SecretStr(database_url)), storage=storage)


def _seed(database_url: str, store: ObjectStore) -> dict[str, bytes]:
    """Two lectures with a recording and a transcript each (rows and objects), transcript
    segments (the search index), and one object no row refers to; return every object."""
    store.check()
    objects: dict[str, bytes] = {}
    engine = build_engine(DatabaseSettings(url=SecretStr(database_url)))
    try:
        with unit_of_work(build_session_factory(engine)) as session:
            course = make_course(session)
            for number in range(2):
                lecture = make_lecture(session, course, title=f"{TITLE} {number}")
                for kind, data in (
                    ("source", os.urandom(200_000 + number)),
                    ("transcript", json.dumps({"text": f"mitochondria {number}"}).encode()),
                ):
                    key = lecture_key(course.id, lecture.id, kind)
                    stored = store.put_bytes(key, data)
                    objects[key] = data
                    session.add(
                        Artifact(
                            lecture_id=lecture.id,
                            kind=kind,
                            key=key,
                            content_type="application/octet-stream",
                            size_bytes=stored.size_bytes,
                            sha256=stored.sha256 or "",
                        )
                    )
                session.add(
                    TranscriptSegment(
                        lecture_id=lecture.id,
                        owner_id=lecture.owner_id,
                        position=0,
                        start=0.0,
                        end=2.5,
                        text=f"the mitochondria is the powerhouse {number}",
                    )
                )
        orphan = "courses/unreferenced/leftover.bin"
        objects[orphan] = b"\x00\xff" * 10
        store.put_bytes(orphan, objects[orphan])
    finally:
        engine.dispose()
    return objects


def _titles(database_url: str) -> list[str]:
    engine = build_engine(DatabaseSettings(url=SecretStr(database_url)))
    try:
        with unit_of_work(build_session_factory(engine)) as session:
            return sorted(session.scalars(select(Lecture.title)).all())
    finally:
        engine.dispose()


def _sqlite_revision(database_url: str) -> str:
    """The Alembic revision a SQLite database is at, read from its own table."""
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(revision)


def _execute(database_url: str, statement: str) -> None:
    """Run one SQL statement on the database behind a SQLAlchemy URL and commit it."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.execute(statement)
        return
    name = database_url.rsplit("/", 1)[-1]
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as connection:
        connection.execute(statement)


def _failed(checks: tuple[Check, ...]) -> dict[str, str]:
    return {check.name: check.detail for check in checks if not check.ok}


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """The URL of a new PostgreSQL database with nothing in it (not migrated)."""
    name = create_postgres_database()
    yield postgres_url(name)
    drop_postgres_database(name)


# --- the round trip on both columns ----------------------------------------------------------


def test_round_trip_sqlite_and_local_store(sqlite_url: str, tmp_path: Path) -> None:
    source = _local(tmp_path / "objects")
    objects = _seed(sqlite_url, build_object_store(source))
    titles = _titles(sqlite_url)

    # A write during the backup (after the snapshot) is in neither the copy nor its manifest.
    def progress(step: str, done: int, total: int | None) -> None:
        if step == "database.copy":
            _execute(sqlite_url, "UPDATE lectures SET title = 'written during the backup'")

    backup = create_backup(
        _settings(sqlite_url, source), str(tmp_path / "backups"), progress=progress
    )
    assert backup.ok, backup.checks
    assert backup.dialect == "sqlite"
    assert backup.alembic_revision == _sqlite_revision(sqlite_url)
    assert backup.row_counts["lectures"] == 2
    assert backup.row_counts["artifacts"] == 4
    assert backup.row_counts["transcript_segments"] == 2
    assert (backup.object_count, backup.object_bytes) == (
        len(objects),
        sum(len(data) for data in objects.values()),
    )
    root = Path(backup.location)
    assert root.name == backup.name
    assert backup.name == f"pegasus-backup-{backup.taken_at:%Y%m%dT%H%M%SZ}"
    assert sorted(path.name for path in root.iterdir()) == [
        "artifacts.jsonl",
        "database.sqlite3",
        "manifest.json",
        "objects",
        "objects.jsonl",
        "tables.json",
    ]
    manifest = json.loads((root / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "database.sqlite3",
        "tables.json",
        "artifacts.jsonl",
        "objects.jsonl",
    }
    listed = [json.loads(line) for line in (root / "objects.jsonl").read_text().splitlines()]
    assert sorted(row["key"] for row in listed) == sorted(objects)

    verified = verify_backup(backup.location)
    assert verified.ok, _failed(verified.checks)
    assert verified.row_counts == backup.row_counts

    target = tmp_path / "restored" / "pegasus.db"
    restored = restore_backup(
        backup.location,
        database_url=f"sqlite:///{target}",
        storage=_local(tmp_path / "restored-objects"),
    )
    assert restored.ok, _failed(restored.checks)
    assert {check.name for check in restored.checks} >= {
        "objects.restored",
        "database.row_counts",
        "database.fingerprints",
        "database.alembic_revision",
        "database.integrity",
        "artifacts.objects",
        "objects.present",
    }
    assert _titles(f"sqlite:///{target}") == titles
    restored_store = build_object_store(_local(tmp_path / "restored-objects"))
    assert {key: restored_store.get_bytes(key) for key in objects} == objects


@pytest.mark.postgres
def test_round_trip_postgresql_and_s3(
    postgres_url: str, empty_postgres: str, s3_endpoint: str, tmp_path: Path
) -> None:
    source = _s3(s3_endpoint)
    objects = _seed(postgres_url, build_object_store(source))
    titles = _titles(postgres_url)
    changed: list[str] = []

    def progress(step: str, done: int, total: int | None) -> None:
        if step == "database.dump" and not changed:  # after the snapshot, before fingerprints
            _execute(postgres_url, "UPDATE lectures SET title = 'written during the backup'")
            changed.append(step)

    destination = f"s3://backups-{uuid.uuid4().hex[:8]}/nightly"
    backup = create_backup(_settings(postgres_url, source), destination, progress=progress)
    assert changed
    assert backup.ok, backup.checks
    assert backup.location == f"{destination}/{backup.name}"
    assert backup.dialect == "postgresql"
    assert backup.row_counts["lectures"] == 2
    assert backup.object_count == len(objects)
    assert "pg_dump" in backup.tool_versions

    verified = verify_backup(backup.location, s3=source)
    assert verified.ok, _failed(verified.checks)
    assert any(check.name == "database.toc" for check in verified.checks)

    target_storage = _s3(s3_endpoint)
    restored = restore_backup(backup.location, database_url=empty_postgres, storage=target_storage)
    assert restored.ok, _failed(restored.checks)
    assert restored.storage == f"s3://{target_storage.s3_bucket}"
    assert "pg_amcheck" in {c.name: c.detail for c in restored.checks}["database.integrity"]
    assert _titles(empty_postgres) == titles
    restored_store = build_object_store(target_storage)
    assert {key: restored_store.get_bytes(key) for key in objects} == objects

    # The checks run again later catch a row changed after the restore.
    _execute(empty_postgres, "UPDATE lectures SET title = 'tampered' WHERE title LIKE '% 0'")
    again = verify_restore(backup.location, database_url=empty_postgres, storage=target_storage)
    assert not again.ok
    assert set(_failed(again.checks)) == {"database.fingerprints"}
    assert "lectures" in _failed(again.checks)["database.fingerprints"]


# --- verify finds damage ---------------------------------------------------------------------


def _sqlite_set(sqlite_url: str, tmp_path: Path) -> tuple[BackupSet, dict[str, bytes]]:
    source = _local(tmp_path / "objects")
    objects = _seed(sqlite_url, build_object_store(source))
    backup = create_backup(_settings(sqlite_url, source), str(tmp_path / "backups"))
    assert backup.ok
    return backup, objects


def test_verify_catches_a_flipped_byte_and_a_missing_object(
    sqlite_url: str, tmp_path: Path
) -> None:
    backup, objects = _sqlite_set(sqlite_url, tmp_path)
    flipped, missing = sorted(key for key in objects if key.endswith("/source"))
    path = Path(backup.location, "objects", *flipped.split("/"))
    data = bytearray(path.read_bytes())
    data[1000] ^= 0x01
    path.write_bytes(bytes(data))
    Path(backup.location, "objects", *missing.split("/")).unlink()

    report = verify_backup(backup.location)

    assert not report.ok
    failed = _failed(report.checks)
    assert set(failed) == {"objects.checksums"}
    assert f"{flipped} holds {len(objects[flipped])} bytes" in failed["objects.checksums"]
    assert f"{missing} missing" in failed["objects.checksums"]
    assert failed["objects.checksums"].startswith("2 problem(s)")


def test_verify_catches_a_damaged_database_copy_and_manifest(
    sqlite_url: str, tmp_path: Path
) -> None:
    backup, _objects = _sqlite_set(sqlite_url, tmp_path)
    copy = Path(backup.location, "database.sqlite3")
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE lectures SET title = 'edited in the set'")
    tables = Path(backup.location, "tables.json")
    tables.write_text(tables.read_text().replace('"rows": 2', '"rows": 3', 1))

    failed = _failed(verify_backup(backup.location).checks)

    assert {"file database.sqlite3", "file tables.json"} <= set(failed)


def test_restore_refuses_a_corrupt_dump(sqlite_url: str, tmp_path: Path) -> None:
    backup, _objects = _sqlite_set(sqlite_url, tmp_path)
    with Path(backup.location, "database.sqlite3").open("r+b") as dump:
        dump.seek(5000)
        dump.write(b"\x00garbage")
    target = tmp_path / "restored.db"
    with pytest.raises(BackupCorruptError, match=r"database\.sqlite3") as raised:
        restore_backup(
            backup.location,
            database_url=f"sqlite:///{target}",
            storage=_local(tmp_path / "restored-objects"),
        )
    assert raised.value.code == "backup.corrupt"
    assert not target.exists()


# --- restore into a target that is not empty -------------------------------------------------


def test_restore_refuses_a_non_empty_target_unless_forced(
    sqlite_url: str, new_database: Any, tmp_path: Path
) -> None:
    backup, objects = _sqlite_set(sqlite_url, tmp_path)
    migrated = new_database("sqlite")  # holds the schema and the built-in presets
    empty_store = _local(tmp_path / "empty-store")
    with pytest.raises(BackupTargetNotEmptyError, match="database") as raised:
        restore_backup(backup.location, database_url=migrated, storage=empty_store)
    assert raised.value.code == "backup.target_not_empty"
    assert not (tmp_path / "empty-store").exists() or not any((tmp_path / "empty-store").iterdir())

    full_store = _local(tmp_path / "full-store")
    build_object_store(full_store).put_bytes("courses/other/kept.bin", b"someone else's")
    fresh = tmp_path / "fresh.db"
    with pytest.raises(BackupTargetNotEmptyError, match="store"):
        restore_backup(backup.location, database_url=f"sqlite:///{fresh}", storage=full_store)
    assert not fresh.exists() or fresh.stat().st_size == 0

    forced = restore_backup(backup.location, database_url=migrated, storage=full_store, force=True)
    assert forced.ok, _failed(forced.checks)
    assert sorted(item.key for item in build_object_store(full_store).list_prefix("")) == sorted(
        objects
    )


@pytest.mark.postgres
def test_restore_refuses_a_non_empty_postgresql_database_unless_forced(
    postgres_url: str, new_database: Any, tmp_path: Path
) -> None:
    source = _local(tmp_path / "objects")
    _seed(postgres_url, build_object_store(source))
    backup = create_backup(_settings(postgres_url, source), str(tmp_path / "backups"))
    migrated = new_database("postgresql")
    with pytest.raises(BackupTargetNotEmptyError):
        restore_backup(backup.location, database_url=migrated, storage=_local(tmp_path / "a"))
    forced = restore_backup(
        backup.location, database_url=migrated, storage=_local(tmp_path / "b"), force=True
    )
    assert forced.ok, _failed(forced.checks)
    assert _titles(migrated) == _titles(postgres_url)


# --- the checks after a restore catch what changed -------------------------------------------


def test_restore_checks_catch_a_changed_row_and_a_damaged_object(
    sqlite_url: str, tmp_path: Path
) -> None:
    backup, objects = _sqlite_set(sqlite_url, tmp_path)
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    storage = _local(tmp_path / "restored-objects")
    assert restore_backup(backup.location, database_url=target, storage=storage).ok

    _execute(target, "UPDATE transcript_segments SET text = 'tampered' WHERE position = 0")
    transcript = next(key for key in objects if key.endswith("/transcript"))
    build_object_store(storage).put_bytes(transcript, b"not the transcript")
    report = verify_restore(backup.location, database_url=target, storage=storage)

    failed = _failed(report.checks)
    assert set(failed) == {"database.fingerprints", "artifacts.objects", "objects.present"}
    assert "transcript_segments differs" in failed["database.fingerprints"]
    assert transcript in failed["artifacts.objects"]


def test_restore_checks_catch_a_deleted_row(sqlite_url: str, tmp_path: Path) -> None:
    backup, _objects = _sqlite_set(sqlite_url, tmp_path)
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    storage = _local(tmp_path / "restored-objects")
    assert restore_backup(backup.location, database_url=target, storage=storage).ok

    _execute(target, "DELETE FROM artifacts WHERE kind = 'transcript'")
    failed = _failed(verify_restore(backup.location, database_url=target, storage=storage).checks)

    assert set(failed) == {"database.row_counts", "database.fingerprints"}
    assert "artifacts: 2 rows, expected 4" in failed["database.row_counts"]


# --- the command line ------------------------------------------------------------------------


def _pegasus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEGASUS, *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_create_verify_restore_with_json_and_exit_codes(
    sqlite_url: str, tmp_path: Path
) -> None:
    objects = _seed(sqlite_url, build_object_store(_local(tmp_path / "objects")))
    env = {
        "PEGASUS_DATABASE_URL": sqlite_url,
        "PEGASUS_STORAGE_ROOT": str(tmp_path / "objects"),
        "PEGASUS_LOG_LEVEL": "WARNING",
        "PEGASUS_BACKUP_CREATE_TO": str(tmp_path / "backups"),
    }
    created = _pegasus(env, "backup", "create", "--json")
    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    assert document["ok"] is True
    assert document["object_count"] == len(objects)
    assert {step["name"] for step in document["steps"]} >= {"database.copy", "objects.copy"}
    location = document["location"]
    assert Path(location).parent == tmp_path / "backups"

    verified = _pegasus(env, "backup", "verify", location, "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["ok"] is True

    key = sorted(objects)[0]
    Path(location, "objects", *key.split("/")).write_bytes(b"flipped")
    damaged = _pegasus(env, "backup", "verify", location)
    assert damaged.returncode == 1
    assert "FAIL  objects.checksums" in damaged.stdout

    restore = [
        "backup",
        "restore",
        location,
        "--to-database",
        sqlite_url,
        "--to-storage",
        str(tmp_path / "restored"),
        "--json",
    ]
    refused = _pegasus(env, *restore)
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["error"]["code"] == "backup.target_not_empty"
    assert "error [backup.target_not_empty]" in refused.stderr


def test_set_location_names_s3_sets(s3_endpoint: str) -> None:
    storage = _s3(s3_endpoint)
    where = SetLocation.new(f"s3://{storage.s3_bucket}/a/b/", "pegasus-backup-x", storage)
    assert (where.prefix, where.url) == (
        "a/b/pegasus-backup-x/",
        f"s3://{storage.s3_bucket}/a/b/pegasus-backup-x",
    )


def test_create_reports_an_artifact_whose_object_is_missing(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = _local(tmp_path / "objects")
    objects = _seed(sqlite_url, build_object_store(source))
    lost = sorted(key for key in objects if key.endswith("/transcript"))[0]
    build_object_store(source).delete_prefix(lost)

    backup = create_backup(_settings(sqlite_url, source), str(tmp_path / "backups"))

    assert not backup.ok
    failed = _failed(backup.checks)
    assert set(failed) == {"artifacts.in_set"}
    assert f"{lost} missing" in failed["artifacts.in_set"]
    assert backup.object_count == len(objects) - 1
    # The set is written all the same, and verify names the same gap.
    verified = verify_backup(backup.location)
    assert _failed(verified.checks) == {"artifacts.in_set": failed["artifacts.in_set"]}
