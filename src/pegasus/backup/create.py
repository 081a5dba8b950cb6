"""Writing a backup set: the database snapshot, then the objects, then the manifests."""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pegasus
from pegasus.backup import postgres, sqlite
from pegasus.backup.errors import (
    BackupLocationError,
)
from pegasus.backup.fingerprint import TableFingerprint
from pegasus.backup.layout import (
    ARTIFACTS,
    DUMP,
    FORMAT,
    MANIFEST,
    OBJECTS,
    OBJECTS_DIR,
    PROBE_PREFIX,
    TABLES,
    compare_ref,
    dialect_of,
    hide_password,
    set_name,
    ticker,
    time_text,
)
from pegasus.backup.location import S3_SCHEME, SetLocation, describe_store
from pegasus.backup.reports import (
    BackupSet,
    Check,
    Clock,
    Problems,
    Progress,
    failed_checks,
)
from pegasus.config import Settings, StorageSettings
from pegasus.errors import ObjectMissingError
from pegasus.storage.base import CHUNK_SIZE, ObjectStore
from pegasus.storage.factory import build_object_store


def create_backup(
    settings: Settings, destination: str, *, progress: Progress | None = None
) -> BackupSet:
    """Write a new set of the configured database and store under ``destination``.

    ``destination`` is a directory or ``s3://bucket/prefix`` (reached with the S3 endpoint,
    region and credentials of ``settings.storage``); the set goes in a new sub-folder or
    prefix ``pegasus-backup-YYYYmmddTHHMMSSZ`` named after the snapshot time. Raises
    ``BackupError`` subclasses (nothing of the set is left behind then); a finished set whose
    checks failed is returned with ``ok`` False."""
    clock = Clock()
    url = settings.database.url.get_secret_value()
    dialect = dialect_of(url)
    source = build_object_store(settings.storage)
    _refuse_destination_inside_store(destination, settings.storage)
    versions = _base_versions()
    with tempfile.TemporaryDirectory(prefix="pegasus-backup-") as scratch:
        work = Path(scratch)
        files: dict[str, dict[str, Any]] = {}
        if dialect == "sqlite":
            copy = work / DUMP["sqlite"]
            with clock.step("database.copy"):
                taken_at = sqlite.online_backup(
                    sqlite.sqlite_path(url), copy, ticker(progress, "database.copy")
                )
            location = SetLocation.new(destination, set_name(taken_at), settings.storage)
            with _removed_on_error(location):
                with clock.step("database.store"):
                    files[DUMP["sqlite"]] = _stored(location, DUMP["sqlite"], copy)
                with (
                    clock.step("database.fingerprints"),
                    sqlite.connect(copy, immutable=True) as connection,
                ):
                    captured = _Captured(
                        dialect=dialect,
                        taken_at=taken_at,
                        revision=sqlite.alembic_revision(connection),
                        tables=sqlite.fingerprints(
                            connection, ticker(progress, "database.fingerprints")
                        ),
                        refs=_write_lines(work / ARTIFACTS, sqlite.artifact_refs(connection)),
                        files=files,
                        versions=versions,
                    )
                return _finish(settings, location, captured, source, work, clock, progress)
        with postgres.snapshot(url) as snap:
            tool = postgres.Tool.find("pg_dump", url)
            versions |= {"pg_dump": tool.version(), "postgresql_server": snap.server_version}
            location = SetLocation.new(destination, set_name(snap.taken_at), settings.storage)
            with _removed_on_error(location):
                with clock.step("database.dump"), postgres.dump(tool, snap.snapshot_id) as out:
                    files[DUMP["postgresql"]] = _entry(
                        location.put_stream(DUMP["postgresql"], _counted(out, progress))
                    )
                with clock.step("database.fingerprints"):
                    captured = _Captured(
                        dialect=dialect,
                        taken_at=snap.taken_at,
                        revision=postgres.alembic_revision(snap.connection),
                        tables=postgres.fingerprints(
                            snap.connection, ticker(progress, "database.fingerprints")
                        ),
                        refs=_write_lines(
                            work / ARTIFACTS, postgres.artifact_refs(snap.connection)
                        ),
                        files=files,
                        versions=versions,
                    )
        # The snapshot is released before the objects are copied: they need no transaction.
        with _removed_on_error(location):
            return _finish(settings, location, captured, source, work, clock, progress)


@dataclass(frozen=True)
class _Captured:
    """What the backup took from the database snapshot."""

    dialect: str
    taken_at: datetime
    revision: str | None
    tables: dict[str, TableFingerprint]
    refs: dict[str, dict[str, Any]]  # artifact rows by key
    files: dict[str, dict[str, Any]]  # set files written so far: size and SHA-256
    versions: dict[str, str]


def _finish(
    settings: Settings,
    location: SetLocation,
    captured: _Captured,
    source: ObjectStore,
    work: Path,
    clock: Clock,
    progress: Progress | None,
) -> BackupSet:
    """Copy the objects, check the artifacts are covered, write the manifests."""
    with clock.step("objects.copy"):
        count, size, checks = _copy_objects(source, location, work, captured.refs, progress)
    tables = captured.tables
    files = captured.files
    with clock.step("manifests"):
        files[TABLES] = _entry(
            location.put_json(
                TABLES,
                {
                    name: {"rows": table.rows, "fingerprint": table.fingerprint}
                    for name, table in tables.items()
                },
            )
        )
        files[ARTIFACTS] = _stored(location, ARTIFACTS, work / ARTIFACTS)
        files[OBJECTS] = _stored(location, OBJECTS, work / OBJECTS)
        finished_at = datetime.now(UTC)
        name = location.url.rstrip("/").rsplit("/", 1)[-1]
        manifest = {
            "format": FORMAT,
            "name": name,
            "taken_at": time_text(captured.taken_at),
            "finished_at": time_text(finished_at),
            "dialect": captured.dialect,
            "alembic_revision": captured.revision,
            "tool_versions": captured.versions,
            "source": {
                "database": hide_password(settings.database.url.get_secret_value()),
                "storage": describe_store(settings.storage),
            },
            "tables": {"count": len(tables), "rows": sum(t.rows for t in tables.values())},
            "objects": {"count": count, "bytes": size},
            "artifacts": {"count": len(captured.refs)},
            "files": files,
            "checks": [check._asdict() for check in checks],
            "steps": [{"name": s.name, "seconds": round(s.seconds, 3)} for s in clock.steps],
        }
        location.put_json(MANIFEST, manifest)
    return BackupSet(
        location=location.url,
        name=name,
        ok=not failed_checks(checks),
        checks=tuple(checks),
        taken_at=captured.taken_at,
        finished_at=finished_at,
        dialect=captured.dialect,
        alembic_revision=captured.revision,
        row_counts={name: table.rows for name, table in tables.items()},
        object_count=count,
        object_bytes=size,
        tool_versions=captured.versions,
        duration_seconds=clock.elapsed(),
        steps=tuple(clock.steps),
    )


def _copy_objects(
    source: ObjectStore,
    location: SetLocation,
    work: Path,
    refs: dict[str, dict[str, Any]],
    progress: Progress | None,
) -> tuple[int, int, list[Check]]:
    """Copy every object into ``objects/`` and list it in objects.jsonl; check that every
    artifact row's object was captured with the row's size and checksum."""
    tick = ticker(progress, "objects.copy")
    count = size = 0
    gone: list[str] = []
    captured: dict[str, tuple[int, str]] = {}
    with (work / OBJECTS).open("w", encoding="utf-8") as listing:
        for stored in source.list_prefix(""):
            if stored.key.startswith(PROBE_PREFIX):
                continue
            try:
                with source.open_read(stored.key) as body:
                    copied = location.put_stream(OBJECTS_DIR + stored.key, body)
            except ObjectMissingError:
                gone.append(stored.key)  # deleted since it was listed
                continue
            assert copied.sha256 is not None
            line = {"key": stored.key, "size_bytes": copied.size_bytes, "sha256": copied.sha256}
            listing.write(json.dumps(line, sort_keys=True) + "\n")
            if stored.key in refs:
                captured[stored.key] = (copied.size_bytes, copied.sha256)
            count += 1
            size += copied.size_bytes
            tick(count, None)
    covered = Problems("artifacts.in_set")
    for key, ref in refs.items():
        compare_ref(covered, key, ref, captured.get(key))
    deleted = f" ({len(gone)} deleted while the backup ran)" if gone else ""
    checks = [
        covered.check(f"{len(refs)} artifact rows, each object captured with its checksum"),
        Check("objects.copied", True, f"{count} objects, {size} bytes{deleted}"),
    ]
    return count, size, checks


def _write_lines(path: Path, rows: Iterator[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Write ``rows`` as JSON lines; return them by key."""
    by_key = {}
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + "\n")
            by_key[str(row["key"])] = row
    return by_key


def _stored(location: SetLocation, name: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as source:
        return _entry(location.put_stream(name, source))


def _entry(stored: Any) -> dict[str, Any]:
    return {"size_bytes": stored.size_bytes, "sha256": stored.sha256}


def _counted(source: Any, progress: Progress | None) -> Iterable[bytes]:
    """The chunks of ``source`` (pg_dump's output), telling ``progress`` the bytes read."""
    tick = ticker(progress, "database.dump")
    done = 0
    while chunk := source.read(CHUNK_SIZE):
        done += len(chunk)
        tick(done, None)
        yield chunk


@contextlib.contextmanager
def _removed_on_error(location: SetLocation) -> Iterator[None]:
    """Delete what was written of the set when the block fails (no half set is left)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            root = location.local_root
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
            elif location.prefix:
                location.store.delete_prefix(location.prefix)
        raise


def _refuse_destination_inside_store(destination: str, storage: StorageSettings) -> None:
    if destination.startswith(S3_SCHEME) or storage.backend != "local":
        return
    root = storage.root.absolute().resolve()
    target = Path(destination).absolute().resolve()
    if target == root or root in target.parents:
        raise BackupLocationError(
            f"{target} is inside the object store ({root}): the backup would copy itself. "
            "Choose a destination outside the store."
        )


def _base_versions() -> dict[str, str]:
    return {
        "pegasus": pegasus.__version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
