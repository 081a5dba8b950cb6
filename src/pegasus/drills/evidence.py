"""Dated drill evidence: every step with its timestamps, duration and exit code, every
check with what was seen, the measurements (RPO, RTO), and facts about the machine; written
as JSON (for tools) and Markdown (for people) under ``docs/evidence/drills/``."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

#: Where `pegasus drill ...` writes evidence unless told otherwise.
DEFAULT_EVIDENCE_DIR = Path("docs/evidence/drills")
#: Version of the evidence document's shape; bump when a field changes meaning.
EVIDENCE_FORMAT = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and a ``Z``: ``2026-12-07T10:15:02.123Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Check:
    """One integrity or smoke check: what, whether it passed, what was seen."""

    name: str
    ok: bool
    detail: str
    step: str = ""
    #: False: recorded for the reader but not counted in the drill's outcome (``probe``).
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "required": self.required,
            "step": self.step,
            "detail": self.detail,
        }


@dataclass
class Step:
    """One step of a drill: what ran, when, for how long, and how it ended."""

    name: str
    description: str
    command: str
    started_at: datetime
    finished_at: datetime | None = None
    seconds: float = 0.0
    #: 0: ran and its checks passed; 1: a check failed or it raised; None: still running.
    exit_code: int | None = None
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "command": self.command,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "error": self.error,
            "data": self.data,
        }


class StepFailed(Exception):
    """Raised out of ``Evidence.step`` when a required step cannot go on (the drill stops
    there; the step and its error are already recorded)."""


class Evidence:
    """Collects a drill's steps, checks and measurements while it runs."""

    def __init__(
        self,
        drill: str,
        column: str,
        command: str,
        *,
        on_step: Callable[[Step, list[Check]], None] | None = None,
    ) -> None:
        self.drill = drill
        self.column = column
        self.command = command
        self.started_at = utc_now()
        self.finished_at: datetime | None = None
        self.steps: list[Step] = []
        self.checks: list[Check] = []
        self.measurements: dict[str, Any] = {}
        self.staging: dict[str, Any] = {}
        self.machine: dict[str, Any] = machine_facts()
        self.notes: list[str] = []
        self._on_step = on_step

    @contextlib.contextmanager
    def step(self, name: str, description: str, command: str) -> Iterator[Step]:
        """Time the ``with`` block as step ``name``. An exception inside it is recorded (exit
        code 1) and re-raised as ``StepFailed``; a check added during it that fails also
        gives the step exit code 1."""
        record = Step(name=name, description=description, command=command, started_at=utc_now())
        self.steps.append(record)
        first_check = len(self.checks)
        started = time.monotonic()
        try:
            yield record
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            self._finish(record, started, first_check, failed=True)
            raise StepFailed(name) from exc
        self._finish(record, started, first_check, failed=False)

    def _finish(self, record: Step, started: float, first_check: int, *, failed: bool) -> None:
        record.seconds = time.monotonic() - started
        record.finished_at = utc_now()
        own = self.checks[first_check:]
        for check in own:
            check.step = check.step or record.name
        record.exit_code = 1 if failed or any(c.required and not c.ok for c in own) else 0
        if self._on_step is not None:
            self._on_step(record, own)

    def check(self, name: str, ok: bool, detail: str, *, required: bool = True) -> bool:
        self.checks.append(Check(name=name, ok=bool(ok), detail=detail, required=required))
        return bool(ok)

    @property
    def ok(self) -> bool:
        """Every step ended with exit code 0, every required check passed, and there was at
        least one check (a drill that checked nothing proves nothing)."""
        return (
            bool(self.checks)
            and all(step.exit_code == 0 for step in self.steps)
            and all(check.ok for check in self.checks if check.required)
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if check.required and not check.ok]

    def finish(self) -> None:
        self.finished_at = utc_now()

    def to_dict(self) -> dict[str, Any]:
        finished = self.finished_at or utc_now()
        return {
            "format": EVIDENCE_FORMAT,
            "drill": self.drill,
            "column": self.column,
            "command": self.command,
            "started_at": iso(self.started_at),
            "finished_at": iso(finished),
            "duration_seconds": round((finished - self.started_at).total_seconds(), 3),
            "ok": self.ok,
            "exit_code": self.exit_code,
            "failed_checks": [check.name for check in self.failed_checks()],
            "measurements": self.measurements,
            "checks_passed": sum(1 for check in self.checks if check.ok),
            "checks_total": len(self.checks),
            "checks": [check.to_dict() for check in self.checks],
            "steps": [step.to_dict() for step in self.steps],
            "staging": self.staging,
            "machine": self.machine,
            "notes": self.notes,
        }

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``<date>-<drill>-<column>.json`` and ``.md`` into ``directory``; a rerun on
        the same day replaces that day's files."""
        if self.finished_at is None:
            self.finish()
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{self.started_at:%Y-%m-%d}-{self.drill}-{self.column}"
        data = self.to_dict()
        json_path = directory / f"{stem}.json"
        md_path = directory / f"{stem}.md"
        json_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        md_path.write_text(render_markdown(data), encoding="utf-8")
        return json_path, md_path


def machine_facts() -> dict[str, Any]:
    """What ran the drill (database server versions are added by the drill itself)."""
    import sqlite3

    try:
        version = metadata.version("pegasus")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "pegasus": version,
        "sqlite_library": sqlite3.sqlite_version,
    }


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(data: dict[str, Any]) -> str:
    """The evidence as a page a person reads: outcome, measurements, checks, steps, machine."""
    outcome = "PASSED" if data["ok"] else "FAILED"
    lines = [
        f"# Drill `{data['drill']}` on the {data['column']} column: {outcome}",
        "",
        f"- Command: `{data['command']}`",
        f"- Started: {data['started_at']}; finished: {data['finished_at']} "
        f"({data['duration_seconds']} s)",
        f"- Exit code: {data['exit_code']}; checks passed: {data['checks_passed']} of "
        f"{data['checks_total']}",
    ]
    if data["failed_checks"]:
        lines.append(f"- Failed checks: {', '.join(data['failed_checks'])}")
    lines += ["", "## Measurements", "", "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {_cell(value)} |" for name, value in data["measurements"].items()]
    lines += [
        "",
        "## Checks",
        "",
        "| check | result | step | what was seen |",
        "|---|---|---|---|",
    ]
    for check in data["checks"]:
        result = "pass" if check["ok"] else "FAIL"
        if not check["required"]:
            result += " (probe, not counted)"
        lines.append(f"| {check['name']} | {result} | {check['step']} | {_cell(check['detail'])} |")
    lines += [
        "",
        "## Steps",
        "",
        "| # | step | started (UTC) | finished (UTC) | seconds | exit | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, step in enumerate(data["steps"], start=1):
        lines.append(
            f"| {number} | {step['name']} | {step['started_at']} | {step['finished_at']} | "
            f"{step['duration_seconds']} | {step['exit_code']} | `{_cell(step['command'])}` |"
        )
    errors = [step for step in data["steps"] if step["error"]]
    if errors:
        lines += ["", "### Errors", ""]
        lines += [f"- {step['name']}: {_cell(step['error'])}" for step in errors]
    lines += ["", "### What each step did", ""]
    lines += [f"- **{step['name']}**: {step['description']}" for step in data["steps"]]
    if data["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in data["notes"]]
    lines += ["", "## Staging target", "", "```json"]
    lines += [json.dumps(data["staging"], indent=2, default=str), "```"]
    lines += ["", "## Machine", "", "| fact | value |", "|---|---|"]
    lines += [f"| {name} | {_cell(value)} |" for name, value in data["machine"].items()]
    lines += [
        "",
        "Step data (row counts, fingerprints, checksums) is in the JSON file of the same name.",
        "",
    ]
    return "\n".join(lines)
