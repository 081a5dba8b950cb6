"""`pegasus drill backup-restore | migration-rollback`. Commands parse arguments and call
``pegasus.drills`` services; heavy imports stay inside the command bodies."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pegasus.config import Settings
    from pegasus.drills.common import DrillOptions, DrillOutcome
    from pegasus.drills.evidence import Check, Step

drill_app = typer.Typer(
    help="Reliability drills against a staging target; evidence under docs/evidence/drills/.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)

COLUMN_HELP = (
    "embedded (SQLite + local store) or scaled (a new PostgreSQL database + new S3 buckets); "
    "default: scaled when PEGASUS_DATABASE_URL is PostgreSQL, else embedded"
)
EVIDENCE_HELP = "directory for the dated JSON and Markdown evidence"
STAGING_HELP = "directory for the staging files (default: a new temporary directory)"
DATABASE_HELP = (
    "scaled: the PostgreSQL server to create the staging database on, as a URL "
    "(default: PEGASUS_DATABASE_URL's server; its own data is never touched)"
)
S3_HELP = (
    "scaled: the S3 endpoint for the staging buckets (default: PEGASUS_STORAGE_S3_ENDPOINT_URL)"
)
LECTURES_HELP = "lectures to process from the bundled clip before the drill"
KEEP_HELP = "keep the staging database, buckets and files (their names are in the evidence)"


def _settings() -> Settings:
    from pegasus.command_settings import command_settings

    return command_settings()


def _options(
    settings: Settings,
    column: str | None,
    evidence_dir: Path,
    staging_dir: Path | None,
    database_url: str | None,
    s3_endpoint: str | None,
    lectures: int,
    keep: bool,
) -> DrillOptions:
    from pegasus.drills.common import DrillOptions
    from pegasus.drills.staging import COLUMNS

    chosen = column or ("embedded" if settings.database.is_sqlite else "scaled")
    if chosen not in COLUMNS:
        typer.echo(f"--column must be one of {', '.join(COLUMNS)}, not {chosen!r}", err=True)
        raise typer.Exit(2)
    return DrillOptions(
        column="embedded" if chosen == "embedded" else "scaled",
        evidence_dir=evidence_dir,
        staging_dir=staging_dir,
        database_url=database_url,
        s3_endpoint=s3_endpoint,
        lectures=lectures,
        keep=keep,
        command=_command_line(),
    )


def _command_line() -> str:
    """The command as typed, with any URL's password hidden."""
    from pegasus.redaction import redact_url

    words = ["pegasus", *sys.argv[1:]]
    return " ".join(shlex.quote(redact_url(word) if "://" in word else word) for word in words)


def _show_step(step: Step, checks: list[Check]) -> None:
    mark = "ok  " if step.exit_code == 0 else "FAIL"
    typer.echo(f"[{mark}] {step.name} ({step.seconds:.1f} s)", err=True)
    for check in checks:
        if not check.ok:
            kind = "probe" if not check.required else "check"
            typer.echo(f"       {kind} failed: {check.name}: {check.detail}", err=True)
    if step.error:
        typer.echo(f"       error: {step.error}", err=True)


def _report(outcome: DrillOutcome) -> None:
    evidence = outcome.evidence
    for name, value in evidence.measurements.items():
        if isinstance(value, int | float | str):
            typer.echo(f"{name}: {value}")
    passed = sum(1 for check in evidence.checks if check.ok)
    typer.echo(f"checks: {passed}/{len(evidence.checks)} passed")
    typer.echo(f"evidence: {outcome.json_path}")
    typer.echo(f"evidence: {outcome.markdown_path}")
    if evidence.exit_code:
        failed = ", ".join(check.name for check in evidence.failed_checks()) or "a step failed"
        typer.echo(f"drill FAILED: {failed}", err=True)
        raise typer.Exit(evidence.exit_code)
    typer.echo("drill passed")


def _fail(exc: Exception) -> typer.Exit:
    from pegasus.errors import PegasusError

    if isinstance(exc, PegasusError):
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        return typer.Exit(2)
    raise exc


@drill_app.command("backup-restore")
def backup_restore(
    column: Annotated[
        str | None,
        typer.Option(envvar="PEGASUS_DRILL_BACKUP_RESTORE_COLUMN", help=COLUMN_HELP),
    ] = None,
    evidence_dir: Annotated[
        Path,
        typer.Option(envvar="PEGASUS_DRILL_BACKUP_RESTORE_EVIDENCE_DIR", help=EVIDENCE_HELP),
    ] = Path("docs/evidence/drills"),
    staging_dir: Annotated[
        Path | None,
        typer.Option(envvar="PEGASUS_DRILL_BACKUP_RESTORE_STAGING_DIR", help=STAGING_HELP),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="PEGASUS_DRILL_BACKUP_RESTORE_DATABASE_URL", help=DATABASE_HELP),
    ] = None,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(envvar="PEGASUS_DRILL_BACKUP_RESTORE_S3_ENDPOINT", help=S3_HELP),
    ] = None,
    lectures: Annotated[
        int,
        typer.Option(
            envvar="PEGASUS_DRILL_BACKUP_RESTORE_LECTURES", help=LECTURES_HELP, min=1, max=20
        ),
    ] = 2,
    keep: Annotated[
        bool,
        typer.Option("--keep", envvar="PEGASUS_DRILL_BACKUP_RESTORE_KEEP", help=KEEP_HELP),
    ] = False,
) -> None:
    """Seed a staging target with processed lectures, back it up, verify the set, restore it
    into a second empty target and read the lectures back; records RPO and RTO."""
    from pegasus.drills.backup_restore import run_backup_restore

    settings = _settings()
    options = _options(
        settings, column, evidence_dir, staging_dir, database_url, s3_endpoint, lectures, keep
    )
    try:
        outcome = run_backup_restore(settings, options, on_step=_show_step)
    except Exception as exc:
        raise _fail(exc) from exc
    _report(outcome)


@drill_app.command("migration-rollback")
def migration_rollback(
    column: Annotated[
        str | None,
        typer.Option(envvar="PEGASUS_DRILL_MIGRATION_ROLLBACK_COLUMN", help=COLUMN_HELP),
    ] = None,
    evidence_dir: Annotated[
        Path,
        typer.Option(envvar="PEGASUS_DRILL_MIGRATION_ROLLBACK_EVIDENCE_DIR", help=EVIDENCE_HELP),
    ] = Path("docs/evidence/drills"),
    staging_dir: Annotated[
        Path | None,
        typer.Option(envvar="PEGASUS_DRILL_MIGRATION_ROLLBACK_STAGING_DIR", help=STAGING_HELP),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="PEGASUS_DRILL_MIGRATION_ROLLBACK_DATABASE_URL", help=DATABASE_HELP),
    ] = None,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(envvar="PEGASUS_DRILL_MIGRATION_ROLLBACK_S3_ENDPOINT", help=S3_HELP),
    ] = None,
    lectures: Annotated[
        int,
        typer.Option(
            envvar="PEGASUS_DRILL_MIGRATION_ROLLBACK_LECTURES", help=LECTURES_HELP, min=1, max=20
        ),
    ] = 1,
    keep: Annotated[
        bool,
        typer.Option("--keep", envvar="PEGASUS_DRILL_MIGRATION_ROLLBACK_KEEP", help=KEEP_HELP),
    ] = False,
) -> None:
    """Migrate a staging target to head, seed and smoke-check it, downgrade one revision and
    smoke-check, upgrade back and smoke-check; fails if any step loses data."""
    from pegasus.drills.migration_rollback import run_migration_rollback

    settings = _settings()
    options = _options(
        settings, column, evidence_dir, staging_dir, database_url, s3_endpoint, lectures, keep
    )
    try:
        outcome = run_migration_rollback(settings, options, on_step=_show_step)
    except Exception as exc:
        raise _fail(exc) from exc
    _report(outcome)
