"""`pegasus backup create | verify | restore`. Commands parse arguments and call
``pegasus.backup`` services; heavy imports stay inside the command bodies.

Exit codes: 0 when every check passed, 1 when a check failed, 2 when the operation could not
run (the error's code and message on standard error, or in the JSON document with --json).
Progress bars go to standard error; --json prints one JSON document on standard output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from datetime import datetime

    from pegasus.backup.reports import Check, Progress, StepTiming
    from pegasus.config import Settings
    from pegasus.errors import PegasusError

backup_app = typer.Typer(
    help="Backup sets: create, verify, restore.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)

EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2

SetArgument = Annotated[
    str,
    typer.Argument(
        help="the backup set: its directory, or s3://bucket/prefix/pegasus-backup-...",
        show_default=False,
    ),
]


def _json_option(command: str) -> object:
    return typer.Option(
        "--json",
        envvar=f"PEGASUS_BACKUP_{command}_JSON",
        help="print one JSON document on standard output (for automation)",
    )


@backup_app.command("create")
def create(
    to: Annotated[
        str,
        typer.Option(
            envvar="PEGASUS_BACKUP_CREATE_TO",
            help="directory or s3://bucket/prefix; the set goes in a new "
            "pegasus-backup-YYYYmmddTHHMMSSZ folder or prefix under it",
        ),
    ] = "var/backups",
    json: Annotated[bool, _json_option("CREATE")] = False,
) -> None:
    """Back up the configured database and object store into a new backup set."""
    from pegasus.backup.service import create_backup

    settings = _settings()
    with _reporting(json) as progress:
        backup = create_backup(settings, to, progress=progress)
    _print(
        json,
        backup.to_json(),
        [
            f"backup set: {backup.location}",
            f"taken at {_when(backup.taken_at)} ({backup.dialect}, "
            f"Alembic revision {backup.alembic_revision}): {sum(backup.row_counts.values())} "
            f"rows in {len(backup.row_counts)} tables, {backup.object_count} objects "
            f"({backup.object_bytes} bytes)",
        ],
        backup.checks,
        backup.steps,
        backup.duration_seconds,
    )
    if not backup.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@backup_app.command("verify")
def verify(
    backup_set: SetArgument,
    json: Annotated[bool, _json_option("VERIFY")] = False,
) -> None:
    """Check a backup set on its own: every file and object against its checksum, the
    manifests against each other, the database dump's contents."""
    from pegasus.backup.service import verify_backup

    settings = _settings()
    with _reporting(json) as progress:
        report = verify_backup(backup_set, progress=progress, s3=settings.storage)
    _print(
        json,
        report.to_json(),
        [f"backup set: {report.location}", f"taken at {_when(report.taken_at)} ({report.dialect})"],
        report.checks,
        report.steps,
        report.duration_seconds,
    )
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@backup_app.command("restore")
def restore(
    backup_set: SetArgument,
    to_database: Annotated[
        str,
        typer.Option(
            envvar="PEGASUS_BACKUP_RESTORE_TO_DATABASE",
            help="SQLAlchemy URL of an empty database of the set's kind (a PostgreSQL "
            "database must exist: createdb)",
            show_default=False,
        ),
    ],
    to_storage: Annotated[
        str,
        typer.Option(
            envvar="PEGASUS_BACKUP_RESTORE_TO_STORAGE",
            help="an empty directory, or s3://bucket (reached with the PEGASUS_STORAGE_S3_* "
            "endpoint and credentials)",
            show_default=False,
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            envvar="PEGASUS_BACKUP_RESTORE_FORCE",
            help="replace what a non-empty target holds (every table and object there)",
        ),
    ] = False,
    json: Annotated[bool, _json_option("RESTORE")] = False,
) -> None:
    """Restore a backup set into an empty database and store, then check them: row counts
    and fingerprints, every artifact's object and checksum, the schema revision, and
    PRAGMA integrity_check (SQLite) or pg_amcheck (PostgreSQL)."""
    from pegasus.backup.location import storage_target
    from pegasus.backup.service import restore_backup

    settings = _settings()
    with _reporting(json) as progress:
        report = restore_backup(
            backup_set,
            database_url=to_database,
            storage=storage_target(to_storage, settings.storage),
            force=force,
            progress=progress,
            s3=settings.storage,
        )
    _print(
        json,
        report.to_json(),
        [
            f"restored {report.location}",
            f"into {report.database} and {report.storage}",
            f"data as of {_when(report.taken_at)} (Alembic revision {report.alembic_revision})",
        ],
        report.checks,
        report.steps,
        report.duration_seconds,
    )
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _when(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _settings() -> Settings:
    from pegasus.command_settings import command_settings

    return command_settings()  # exit 2 (EXIT_ERROR) on an invalid configuration


@contextmanager
def _reporting(json: bool) -> Iterator[Progress]:
    """A progress callback drawing rich bars on standard error; a PegasusError raised in
    the block ends the command with exit code 2 and the error's code and message."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    from pegasus.errors import PegasusError

    bars = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed:>10.0f}"),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def progress(step: str, done: int, total: int | None) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        bars.update(tasks[step], completed=done, total=total)

    try:
        with bars:
            yield progress
    except PegasusError as exc:
        raise _fail(exc, json) from exc


def _fail(exc: PegasusError, json: bool) -> typer.Exit:
    import json as json_module

    if json:
        error = {"code": exc.code, "message": exc.message}
        typer.echo(json_module.dumps({"ok": False, "error": error}, indent=2))
    typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
    return typer.Exit(EXIT_ERROR)


def _print(
    json: bool,
    document: str,
    heading: list[str],
    checks: tuple[Check, ...],
    steps: tuple[StepTiming, ...],
    seconds: float,
) -> None:
    if json:
        typer.echo(document)
        return
    for line in heading:
        typer.echo(line)
    for check in checks:
        typer.echo(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    timings = ", ".join(f"{step.name} {step.seconds:.2f}s" for step in steps)
    typer.echo(f"took {seconds:.2f}s ({timings})")
    failed = [check.name for check in checks if not check.ok]
    if failed:
        typer.echo(f"FAILED: {', '.join(failed)}", err=True)
