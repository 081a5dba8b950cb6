"""Restoring a backup set into an empty database and store, and checking the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pegasus.backup import postgres, sqlite
from pegasus.backup.errors import (
    BackupCorruptError,
    BackupError,
    BackupTargetNotEmptyError,
)
from pegasus.backup.layout import (
    ARTIFACTS,
    DUMP,
    OBJECTS,
    OBJECTS_DIR,
    PROBE_PREFIX,
    TABLES,
    check_file,
    compare_ref,
    compare_revision,
    compare_tables,
    dialect_of,
    hide_password,
    local_file,
    read_manifest,
    read_set_file,
    taken_at,
    ticker,
)
from pegasus.backup.location import SetLocation, describe_store, hash_stream
from pegasus.backup.reports import (
    Check,
    Clock,
    Problems,
    Progress,
    RestoreReport,
    failed_checks,
)
from pegasus.config import StorageSettings
from pegasus.errors import ObjectMissingError
from pegasus.storage.base import ObjectStore
from pegasus.storage.factory import build_object_store


def restore_backup(
    location: str,
    *,
    database_url: str,
    storage: StorageSettings,
    force: bool = False,
    progress: Progress | None = None,
    s3: StorageSettings | None = None,
) -> RestoreReport:
    """Restore the set at ``location`` into an empty database (a SQLAlchemy URL of the set's
    kind; a PostgreSQL database must exist) and an empty store, then check them with
    ``verify_restore``.

    A non-empty target raises ``BackupTargetNotEmptyError`` before anything is written,
    unless ``force``: then every table and object there is replaced. A set file that does
    not match its manifest raises ``BackupCorruptError`` (before the database is touched
    when it is the dump or a manifest); an object that does not is reported as a failed
    check. ``s3`` reaches an ``s3://`` location; None: ``storage`` when it is S3, else
    boto3's defaults."""
    clock = Clock()
    where = SetLocation.existing(location, s3 or (storage if storage.backend == "s3" else None))
    with clock.step("manifest"):
        manifest = read_manifest(where)
        files: dict[str, dict[str, Any]] = manifest.get("files", {})
        for name in (TABLES, ARTIFACTS, OBJECTS):
            check = check_file(where, name, files.get(name, {}))
            if not check.ok:
                raise BackupCorruptError(f"{where.url}: {check.name}: {check.detail}")
    dialect = str(manifest["dialect"])
    if dialect_of(database_url) != dialect:
        raise BackupError(
            f"This set holds a {dialect} database; restore it into a {dialect} database."
        )
    target = build_object_store(storage)
    with clock.step("targets"):
        target.check()
        database_empty = (
            sqlite.is_empty(sqlite.sqlite_path(database_url))
            if dialect == "sqlite"
            else postgres.is_empty(database_url)
        )
        store_empty = next(iter(_objects(target)), None) is None
        if not (database_empty and store_empty) and not force:
            what = [
                label
                for label, empty in (
                    (f"database {hide_password(database_url)}", database_empty),
                    (f"store {describe_store(storage)}", store_empty),
                )
                if not empty
            ]
            raise BackupTargetNotEmptyError(
                f"The restore target is not empty ({', '.join(what)}). Restore into a new, "
                "empty database and store, or pass --force to replace what is there.",
                database_empty=database_empty,
                store_empty=store_empty,
            )
    name = DUMP[dialect]
    with local_file(where, name, files.get(name, {})) as dump, clock.step("database.restore"):
        _restore_database(dialect, dump, database_url, clean=not database_empty)
    if not store_empty:
        with clock.step("objects.clear"):
            _clear(target)
    with clock.step("objects.restore"):
        copied = _restore_objects(where, target, progress)
    report = _verify_restored(where, manifest, database_url, storage, target, progress)
    checks = (copied, *report.checks)
    return RestoreReport(
        location=report.location,
        database=report.database,
        storage=report.storage,
        ok=not failed_checks(checks),
        checks=checks,
        taken_at=report.taken_at,
        alembic_revision=report.alembic_revision,
        row_counts=report.row_counts,
        object_count=report.object_count,
        duration_seconds=clock.elapsed(),
        steps=(*clock.steps, *report.steps),
    )


def _restore_database(dialect: str, dump: Path, database_url: str, *, clean: bool) -> None:
    if dialect == "sqlite":
        sqlite.restore_file(dump, sqlite.sqlite_path(database_url))
        return
    if clean:
        postgres.drop_relations(database_url)
    postgres.restore(postgres.Tool.find("pg_restore", database_url), dump, clean=clean)


def _objects(store: ObjectStore) -> Iterator[str]:
    for stored in store.list_prefix(""):
        if not stored.key.startswith(PROBE_PREFIX):
            yield stored.key


def _clear(store: ObjectStore) -> None:
    """Delete every object of ``store`` (a forced restore replaces them)."""
    for top in sorted({key.split("/", 1)[0] for key in _objects(store)}):
        store.delete_prefix(top)


def _restore_objects(where: SetLocation, target: ObjectStore, progress: Progress | None) -> Check:
    tick = ticker(progress, "objects.restore")
    problems = Problems("objects.restored")
    count = 0
    for count, row in enumerate(where.iter_lines(OBJECTS), start=1):
        key = str(row["key"])
        try:
            with where.open_read(OBJECTS_DIR + key) as body:
                stored = target.put_stream(key, body)
        except ObjectMissingError:
            problems.add(f"{key} missing from the set")
            continue
        if (stored.size_bytes, stored.sha256) != (row["size_bytes"], row["sha256"]):
            problems.add(f"{key} in the set does not match its checksum")
        tick(count, None)
    return problems.check(f"{count} objects copied, every checksum matches")


def verify_restore(
    location: str,
    *,
    database_url: str,
    storage: StorageSettings,
    progress: Progress | None = None,
    s3: StorageSettings | None = None,
) -> RestoreReport:
    """Check a database and store restored from the set at ``location`` (again, at any
    time): every table's row count and fingerprint as in the set, every artifact row's
    object present in the store with the row's size and checksum, every object of the set
    present with its size, the schema at the set's Alembic revision, and the database clean
    by ``PRAGMA integrity_check``/``foreign_key_check`` (SQLite) or ``pg_amcheck`` (PostgreSQL)."""
    where = SetLocation.existing(location, s3 or (storage if storage.backend == "s3" else None))
    manifest = read_manifest(where)
    target = build_object_store(storage)
    return _verify_restored(where, manifest, database_url, storage, target, progress)


def _verify_restored(
    where: SetLocation,
    manifest: dict[str, Any],
    database_url: str,
    storage: StorageSettings,
    target: ObjectStore,
    progress: Progress | None,
) -> RestoreReport:
    clock = Clock()
    tables = read_set_file(where, TABLES, lambda: where.get_json(TABLES))
    checks: list[Check] = []
    artifacts = Problems("artifacts.objects")
    with clock.step("check.database"):
        dialect = dialect_of(database_url)
        if dialect == "sqlite":
            path = sqlite.sqlite_path(database_url)
            with sqlite.connect(path, read_only=True) as connection:
                found = sqlite.fingerprints(connection, ticker(progress, "check.fingerprints"))
                revision = sqlite.alembic_revision(connection)
                problems = sqlite.integrity_problems(connection)
                refs = list(sqlite.artifact_refs(connection))
            integrity = Check(
                "database.integrity",
                not problems,
                "; ".join(problems[:10]) or "PRAGMA integrity_check ok, no foreign key broken",
            )
        else:
            with postgres.snapshot(database_url) as snap:
                found = postgres.fingerprints(
                    snap.connection, ticker(progress, "check.fingerprints")
                )
                revision = postgres.alembic_revision(snap.connection)
                refs = list(postgres.artifact_refs(snap.connection))
            clean, said = postgres.amcheck(postgres.Tool.find("pg_amcheck", database_url))
            integrity = Check("database.integrity", clean, f"pg_amcheck: {said}")
        checks += compare_tables(tables, found)
        checks.append(compare_revision(manifest.get("alembic_revision"), revision))
        checks.append(integrity)
    with clock.step("check.artifacts"):
        tick = ticker(progress, "check.artifacts")
        for done, ref in enumerate(refs, start=1):
            try:
                found_object: tuple[int, str] | None = hash_stream(target.open_read(ref["key"]))
            except ObjectMissingError:
                found_object = None
            compare_ref(artifacts, ref["key"], ref, found_object)
            tick(done, len(refs))
        checks.append(
            artifacts.check(f"{len(refs)} artifact rows, each object present with its checksum")
        )
    with clock.step("check.objects"):
        present = {stored.key: stored.size_bytes for stored in target.list_prefix("")}
        absent = Problems("objects.present")
        count = 0
        for row in where.iter_lines(OBJECTS):
            count += 1
            size = present.get(str(row["key"]))
            if size is None:
                absent.add(f"{row['key']} missing")
            elif size != row["size_bytes"]:
                absent.add(f"{row['key']} holds {size} bytes, the set {row['size_bytes']}")
        checks.append(absent.check(f"{count} objects of the set present with their sizes"))
    return RestoreReport(
        location=where.url,
        database=hide_password(database_url),
        storage=describe_store(storage),
        ok=not failed_checks(checks),
        checks=tuple(checks),
        taken_at=taken_at(manifest),
        alembic_revision=manifest.get("alembic_revision"),
        row_counts={name: table.rows for name, table in found.items()},
        object_count=count,
        duration_seconds=clock.elapsed(),
        steps=tuple(clock.steps),
    )
