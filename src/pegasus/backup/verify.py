"""Checking a backup set on its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from pegasus.backup import postgres, sqlite
from pegasus.backup.errors import (
    BackupCorruptError,
    BackupError,
)
from pegasus.backup.layout import (
    ARTIFACTS,
    DUMP,
    MANIFEST,
    OBJECTS,
    OBJECTS_DIR,
    TABLES,
    check_file,
    compare_names,
    compare_ref,
    compare_revision,
    compare_tables,
    local_file,
    read_manifest,
    taken_at,
    ticker,
)
from pegasus.backup.location import SetLocation, hash_stream
from pegasus.backup.reports import (
    Check,
    Clock,
    Problems,
    Progress,
    VerifyReport,
    failed_checks,
)
from pegasus.config import StorageSettings
from pegasus.errors import ObjectMissingError


def verify_backup(
    location: str, *, progress: Progress | None = None, s3: StorageSettings | None = None
) -> VerifyReport:
    """Check the set at ``location`` on its own: every file against ``manifest.json``, the
    manifests against each other, the database copy (SQLite: ``PRAGMA integrity_check`` and
    its fingerprints recomputed; PostgreSQL: ``pg_restore --list`` names every table) and
    every object against its checksum, with no object unlisted.

    ``s3`` says how to reach an ``s3://`` location (endpoint, region, credentials; its
    bucket and backend are ignored); None uses boto3's defaults. Raises
    ``BackupLocationError`` when there is no set there; damage is reported as checks."""
    clock = Clock()
    where = SetLocation.existing(location, s3)
    with clock.step("manifest"):
        manifest = read_manifest(where)
    checks: list[Check] = []
    dialect = str(manifest.get("dialect"))
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    with clock.step("files"):
        for name in (TABLES, ARTIFACTS, OBJECTS):
            checks.append(
                check_file(where, name, files[name])
                if name in files
                else Check(f"file {name}", False, f"not named in {MANIFEST}")
            )
    tables: dict[str, dict[str, Any]] = {}
    refs: dict[str, dict[str, Any]] = {}
    listed: dict[str, tuple[int, str]] = {}
    with clock.step("manifests"):
        try:
            tables = where.get_json(TABLES)
            refs = {str(row["key"]): row for row in where.iter_lines(ARTIFACTS)}
            listed = {
                str(row["key"]): (int(row["size_bytes"]), str(row["sha256"]))
                for row in where.iter_lines(OBJECTS)
            }
            checks += _manifest_checks(manifest, tables, refs, listed)
        except (ObjectMissingError, ValueError, KeyError, TypeError) as exc:
            checks.append(Check("manifests.readable", False, f"cannot read: {exc!r}"))
    with clock.step("database"):
        checks += _verify_database(where, manifest, tables, progress)
    with clock.step("objects"):
        checks += _verify_objects(where, listed, progress)
    return VerifyReport(
        location=where.url,
        ok=not failed_checks(checks),
        checks=tuple(checks),
        taken_at=taken_at(manifest),
        dialect=dialect,
        alembic_revision=manifest.get("alembic_revision"),
        row_counts={name: int(table["rows"]) for name, table in tables.items()},
        object_count=len(listed),
        duration_seconds=clock.elapsed(),
        steps=tuple(clock.steps),
    )


def _manifest_checks(
    manifest: dict[str, Any],
    tables: dict[str, dict[str, Any]],
    refs: dict[str, dict[str, Any]],
    listed: dict[str, tuple[int, str]],
) -> list[Check]:
    checks = []
    rows = sum(int(table["rows"]) for table in tables.values())
    expected_tables = manifest.get("tables", {})
    checks.append(
        Check(
            "manifests.tables",
            expected_tables == {"count": len(tables), "rows": rows},
            f"{TABLES}: {len(tables)} tables, {rows} rows; {MANIFEST}: {expected_tables}",
        )
    )
    size = sum(item[0] for item in listed.values())
    expected_objects = manifest.get("objects", {})
    checks.append(
        Check(
            "manifests.objects",
            expected_objects == {"count": len(listed), "bytes": size},
            f"{OBJECTS}: {len(listed)} objects, {size} bytes; {MANIFEST}: {expected_objects}",
        )
    )
    covered = Problems("artifacts.in_set")
    for key, ref in refs.items():
        compare_ref(covered, key, ref, listed.get(key))
    checks.append(covered.check(f"{len(refs)} artifact rows, each object listed with its checksum"))
    return checks


def _verify_database(
    where: SetLocation,
    manifest: dict[str, Any],
    tables: dict[str, dict[str, Any]],
    progress: Progress | None,
) -> list[Check]:
    dialect = manifest.get("dialect")
    if dialect not in DUMP:
        return [Check("database", False, f"unknown dialect {dialect!r} in {MANIFEST}")]
    name = DUMP[str(dialect)]
    expected = manifest.get("files", {}).get(name)
    if expected is None:
        return [Check(f"file {name}", False, f"not named in {MANIFEST}")]
    try:
        with local_file(where, name, expected) as path:
            checks = [
                Check(f"file {name}", True, f"{expected['size_bytes']} bytes, SHA-256 matches")
            ]
            if dialect == "sqlite":
                return checks + _verify_sqlite_copy(path, manifest, tables, progress)
            in_dump = postgres.toc_tables(path)
            return [*checks, compare_names("database.toc", sorted(tables), in_dump)]
    except BackupCorruptError as exc:
        return [Check(f"file {name}", False, exc.message)]
    except BackupError as exc:
        return [Check("database", False, exc.message)]


def _verify_sqlite_copy(
    path: Path,
    manifest: dict[str, Any],
    tables: dict[str, dict[str, Any]],
    progress: Progress | None,
) -> list[Check]:
    try:
        with sqlite.connect(path, immutable=True) as connection:
            problems = sqlite.integrity_problems(connection)
            found = sqlite.fingerprints(connection, ticker(progress, "database.fingerprints"))
            revision = sqlite.alembic_revision(connection)
    except sqlite3.DatabaseError as exc:
        return [Check("database.integrity", False, f"not a readable SQLite database: {exc}")]
    return [
        Check("database.integrity", not problems, "; ".join(problems[:10]) or "ok"),
        *compare_tables(tables, found),
        compare_revision(manifest.get("alembic_revision"), revision),
    ]


def _verify_objects(
    where: SetLocation, listed: dict[str, tuple[int, str]], progress: Progress | None
) -> list[Check]:
    tick = ticker(progress, "objects.verify")
    damaged = Problems("objects.checksums")
    for done, (key, (size, sha256)) in enumerate(sorted(listed.items()), start=1):
        try:
            found = hash_stream(where.open_read(OBJECTS_DIR + key))
        except ObjectMissingError:
            damaged.add(f"{key} missing")
            continue
        if found != (size, sha256):
            damaged.add(f"{key} holds {found[0]} bytes, SHA-256 {found[1][:12]}…: not as listed")
        tick(done, len(listed))
    unlisted = Problems("objects.unlisted")
    for stored in where.list(OBJECTS_DIR):
        key = stored.key.removeprefix(OBJECTS_DIR)
        if key not in listed:
            unlisted.add(f"{key} is in the set but not in {OBJECTS}")
    return [
        damaged.check(f"{len(listed)} objects, every checksum matches"),
        unlisted.check(f"every object in {OBJECTS_DIR} is listed in {OBJECTS}"),
    ]
