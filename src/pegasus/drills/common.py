"""What both drills share: their options, their outcome, opening and closing staging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from pegasus.config import Settings
from pegasus.drills.evidence import DEFAULT_EVIDENCE_DIR, Check, Evidence, Step, StepFailed
from pegasus.drills.seeding import LectureReadBack
from pegasus.drills.staging import Column, Staging, Target, open_staging

StepHook = Callable[[Step, list[Check]], None]


@dataclass(frozen=True)
class DrillOptions:
    """How a drill runs. The scaled column's server and endpoint default to the configured
    deployment's (only a new database and new buckets are made there)."""

    column: Column = "embedded"
    evidence_dir: Path = DEFAULT_EVIDENCE_DIR
    staging_dir: Path | None = None
    database_url: str | None = None
    s3_endpoint: str | None = None
    lectures: int = 1
    keep: bool = False
    #: The command line as the operator typed it, for the evidence.
    command: str = ""


@dataclass(frozen=True)
class DrillOutcome:
    evidence: Evidence
    json_path: Path
    markdown_path: Path

    @property
    def exit_code(self) -> int:
        return self.evidence.exit_code


def prepare_staging(settings: Settings, options: DrillOptions) -> Staging:
    """The run's staging, nothing made yet; ``ConfigError`` when the column's server or
    endpoint is not configured (before any evidence is written)."""
    return open_staging(
        settings,
        options.column,
        staging_dir=options.staging_dir,
        database_url=options.database_url,
        s3_endpoint=options.s3_endpoint,
        keep=options.keep,
    )


def record_servers(evidence: Evidence, staging: Staging) -> None:
    evidence.machine["database_server"] = staging.server_version()
    if staging.column == "scaled":
        evidence.machine["s3_endpoint"] = staging.s3_endpoint or "AWS S3 (boto3 default)"


def describe_targets(staging: Staging, targets: list[Target]) -> dict[str, object]:
    return {
        **staging.created(),
        "targets": {target.label: target.describe() for target in targets},
    }


def finish(evidence: Evidence, staging: Staging | None, options: DrillOptions) -> DrillOutcome:
    """Remove the staging target (unless kept), then write the evidence files."""
    if staging is not None:
        try:
            with evidence.step(
                "remove staging",
                "Drop the staging databases and buckets and delete the staging directory "
                "(skipped with --keep).",
                "DROP DATABASE ... WITH (FORCE); S3 DeleteObjects + DeleteBucket; rm -r"
                if options.column == "scaled"
                else "rm -r STAGING_DIR",
            ) as step:
                problems = staging.close()
                step.data = {"kept": staging.keep, **staging.created()}
                evidence.check(
                    "staging removed",
                    not problems,
                    "kept (--keep)" if staging.keep else "; ".join(problems) or "all removed",
                )
        except StepFailed:
            pass  # nosec B110  # the step recorded the failure
    evidence.finish()
    json_path, md_path = evidence.write(options.evidence_dir)
    return DrillOutcome(evidence, json_path, md_path)


def stopped(evidence: Evidence, exc: Exception) -> None:
    """Record an error raised outside any step (the drill stops there)."""
    evidence.check("drill ran to the end", False, f"{type(exc).__name__}: {exc}")


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database behind ``engine`` is at."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def readback_check(evidence: Evidence, name: str, read: LectureReadBack) -> bool:
    return evidence.check(name, read.ok, read.summary())
