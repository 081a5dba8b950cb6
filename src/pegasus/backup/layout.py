"""The files of a backup set (see ``pegasus.backup.service``), reading them back, and the
comparisons verify and restore share."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from pegasus.backup.errors import (
    BackupCorruptError,
    BackupError,
    BackupLocationError,
)
from pegasus.backup.fingerprint import TableFingerprint
from pegasus.backup.location import SetLocation
from pegasus.backup.reports import (
    Check,
    Problems,
    Progress,
)
from pegasus.errors import ObjectMissingError

FORMAT = "pegasus-backup/1"
SET_PREFIX = "pegasus-backup-"
MANIFEST = "manifest.json"
TABLES = "tables.json"
ARTIFACTS = "artifacts.jsonl"
OBJECTS = "objects.jsonl"
OBJECTS_DIR = "objects/"
DUMP = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
#: Probe objects ``ObjectStore.check`` writes and deletes at once: never backed up.
PROBE_PREFIX = ".pegasus-check/"


def set_name(taken_at: datetime) -> str:
    """``pegasus-backup-YYYYmmddTHHMMSSZ``."""
    return f"{SET_PREFIX}{taken_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def ticker(progress: Progress | None, step: str) -> Callable[[int, int | None], None]:
    """A ``(done, total)`` callback telling ``progress`` (if any) how ``step`` advances."""

    def tick(done: int, total: int | None) -> None:
        if progress is not None:
            progress(step, done, total)

    return tick


def dialect_of(url: str) -> str:
    """ "sqlite" or "postgresql" for a SQLAlchemy URL; any other kind is refused."""
    backend = make_url(url).get_backend_name()
    if backend not in DUMP:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {backend!r}.")
    return backend


def hide_password(url: str) -> str:
    """``url`` with its password shown as ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def time_text(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def read_manifest(location: SetLocation) -> dict[str, Any]:
    """The set's manifest.json; ``BackupLocationError`` when there is none."""
    if not location.exists(MANIFEST):
        raise BackupLocationError(
            f"{location.url} holds no {MANIFEST}: it is not a backup set, or its backup did "
            "not finish."
        )
    try:
        manifest = location.get_json(MANIFEST)
    except ValueError as exc:
        raise BackupCorruptError(f"{MANIFEST} of {location.url} is not valid JSON.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupCorruptError(
            f"{MANIFEST} of {location.url} is not a {FORMAT} manifest.",
            format=manifest.get("format") if isinstance(manifest, dict) else None,
        )
    return manifest


def taken_at(manifest: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(manifest["taken_at"]).replace("Z", "+00:00"))


def check_file(location: SetLocation, name: str, expected: dict[str, Any]) -> Check:
    """Whether file ``name`` of the set has the size and SHA-256 the manifest names."""
    try:
        size, sha256 = location.hash_file(name)
    except ObjectMissingError:
        return Check(f"file {name}", False, "missing from the set")
    if (size, sha256) != (expected.get("size_bytes"), expected.get("sha256")):
        return Check(
            f"file {name}", False, f"{size} bytes, SHA-256 {sha256[:12]}…: not as in {MANIFEST}"
        )
    return Check(f"file {name}", True, f"{size} bytes, SHA-256 matches")


def read_set_file(location: SetLocation, name: str, reader: Callable[[], Any]) -> Any:
    try:
        return reader()
    except (ObjectMissingError, ValueError, KeyError, TypeError) as exc:
        raise BackupCorruptError(f"{name} of {location.url} is missing or unreadable.") from exc


@contextlib.contextmanager
def local_file(location: SetLocation, name: str, expected: dict[str, Any]) -> Iterator[Path]:
    """``name`` of the set as a file on this machine (downloaded from S3 into a temp dir);
    ``BackupCorruptError`` when it does not match the manifest."""
    root = location.local_root
    if root is not None:
        path = root / name
        check = check_file(location, name, expected)
        if not check.ok:
            raise BackupCorruptError(f"{location.url}: {check.name}: {check.detail}")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="pegasus-restore-") as scratch:
        path = Path(scratch) / name
        try:
            size, sha256 = location.download(name, path)
        except ObjectMissingError as exc:
            raise BackupCorruptError(f"{location.url}: {name} is missing.") from exc
        if (size, sha256) != (expected.get("size_bytes"), expected.get("sha256")):
            raise BackupCorruptError(f"{location.url}: {name} does not match {MANIFEST}.")
        yield path


def compare_ref(
    problems: Problems, key: str, ref: dict[str, Any], found: tuple[int, str] | None
) -> None:
    """Note how the object ``found`` (size, SHA-256) differs from the artifact row ``ref``."""
    if found is None:
        problems.add(f"{key} missing")
        return
    found_size, found_sha = found
    if found_size != ref["size_bytes"]:
        problems.add(f"{key} holds {found_size} bytes, the row says {ref['size_bytes']}")
    elif ref["sha256"] and found_sha != ref["sha256"]:
        problems.add(f"{key} checksum {found_sha[:12]}… differs from the row's")


def compare_names(name: str, expected: list[str], found: list[str]) -> Check:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        return Check(name, False, f"missing: {missing or 'none'}; unexpected: {extra or 'none'}")
    return Check(name, True, f"{len(found)} tables, as in {TABLES}")


def compare_tables(
    expected: dict[str, dict[str, Any]], found: dict[str, TableFingerprint]
) -> list[Check]:
    counts = Problems("database.row_counts")
    prints = Problems("database.fingerprints")
    for name in sorted(set(expected) | set(found)):
        want, have = expected.get(name), found.get(name)
        if want is None or have is None:
            counts.add(f"table {name} {'unexpected' if want is None else 'missing'}")
            continue
        if int(want["rows"]) != have.rows:
            counts.add(f"{name}: {have.rows} rows, expected {want['rows']}")
        if want["fingerprint"] != have.fingerprint:
            prints.add(f"{name} differs")
    rows = sum(table.rows for table in found.values())
    return [
        counts.check(f"{len(found)} tables, {rows} rows, as in {TABLES}"),
        prints.check(f"{len(found)} table fingerprints equal {TABLES}"),
    ]


def compare_revision(expected: Any, found: str | None) -> Check:
    detail = f"database at {found}, set recorded {expected}"
    with contextlib.suppress(Exception):
        head = code_head()
        if head != found:
            detail += f" (this Pegasus's newest is {head}: run `pegasus db upgrade` before serving)"
    return Check("database.alembic_revision", expected == found, detail)


def code_head() -> str | None:
    from alembic.script import ScriptDirectory

    from pegasus.db.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
