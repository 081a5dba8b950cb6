"""Errors of backup sets (subclasses of ``pegasus.errors.PegasusError``, stable codes)."""

from __future__ import annotations

from pegasus.errors import PegasusError


class BackupError(PegasusError):
    """The backup operation failed; the message says which step and why."""

    code = "backup.failed"


class BackupLocationError(BackupError):
    """The backup location is not a directory path or s3://bucket/prefix, or holds no
    backup set (no manifest.json). Check the path you gave."""

    code = "backup.location_invalid"


class BackupCorruptError(BackupError):
    """The backup set is damaged: a file is missing or does not match its checksum. Use
    another set, and run `pegasus backup verify` on it first."""

    code = "backup.corrupt"


class BackupToolError(BackupError):
    """A database tool (pg_dump, pg_restore, pg_amcheck) is missing or failed. Install the
    PostgreSQL client tools matching the server's major version (Debian:
    postgresql-client), or put them on PATH."""

    code = "backup.tool_failed"


class BackupTargetNotEmptyError(BackupError):
    """The restore target is not empty. Restore into a new, empty database and store, or
    pass --force to replace what is there."""

    code = "backup.target_not_empty"
