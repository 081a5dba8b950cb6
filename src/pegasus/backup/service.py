"""Backup sets: create, verify, restore (the public API; `pegasus backup` and the drills
call it).

Backup set layout: a directory, or the same names under an S3 prefix, named
``pegasus-backup-YYYYmmddTHHMMSSZ`` after the snapshot time (``taken_at``):

    manifest.json      written last (a set without it is incomplete): format, taken_at,
                       finished_at, dialect, Alembic revision, tool versions, table and
                       object totals, the checks and step timings of the backup, and every
                       file below (objects/ through objects.jsonl) with size and SHA-256
    database.dump      PostgreSQL: ``pg_dump --format=custom --snapshot=<exported snapshot>``
    database.sqlite3   SQLite: a copy made with the online backup API (journal mode DELETE)
    tables.json        every table's row count and fingerprint (SHA-256 over its rows in
                       primary-key order, rendered canonically: ``pegasus.backup.fingerprint``)
                       taken from the same snapshot as the dump (PostgreSQL: the transaction
                       that exported it; SQLite: the copy itself)
    artifacts.jsonl    the snapshot's artifact rows: key, size_bytes, sha256 (one JSON a line)
    objects.jsonl      every object copied from the store: key, size_bytes, sha256
    objects/<key>      the objects, byte for byte

Objects are copied after the snapshot, so every object a row of the snapshot refers to is
there unless it was deleted in between; the backup checks that (``artifacts.in_set``).
Restores go into an empty database of the same kind and an empty store (local directory
or S3 bucket), then check them (``verify_restore``)."""

from __future__ import annotations

from pegasus.backup.create import create_backup
from pegasus.backup.reports import (
    BackupSet,
    Check,
    Progress,
    RestoreReport,
    StepTiming,
    VerifyReport,
    failed_checks,
)
from pegasus.backup.restore import restore_backup, verify_restore
from pegasus.backup.verify import verify_backup

__all__ = [
    "BackupSet",
    "Check",
    "Progress",
    "RestoreReport",
    "StepTiming",
    "VerifyReport",
    "create_backup",
    "failed_checks",
    "restore_backup",
    "verify_backup",
    "verify_restore",
]
