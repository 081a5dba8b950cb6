"""What backup operations return: frozen reports with checks and step timings, as JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple, Protocol


class Progress(Protocol):
    """Told how a long step advances: ``total`` is None when it is not known in advance."""

    def __call__(self, step: str, done: int, total: int | None) -> None: ...


class Check(NamedTuple):
    """One verification: what was checked, whether it passed, and what was seen."""

    name: str
    ok: bool
    detail: str


class StepTiming(NamedTuple):
    """How long one step took, in seconds."""

    name: str
    seconds: float


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Check):
        return {"name": value.name, "ok": value.ok, "detail": value.detail}
    if isinstance(value, StepTiming):
        return {"name": value.name, "seconds": round(value.seconds, 3)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


class _Report:
    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data (times as ISO 8601 UTC, seconds to the ms)."""
        return {item.name: _plain(getattr(self, item.name)) for item in fields(self)}  # type: ignore[arg-type]

    def to_json(self) -> str:
        """The report as one JSON document."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


@dataclass(frozen=True)
class BackupSet(_Report):
    """A backup set that was written. ``taken_at`` is the snapshot time: everything committed
    before it is in the set (the data age at backup, for RPO). ``ok`` is False when a check
    failed (an artifact row whose object could not be captured): the set was still written."""

    location: str
    name: str
    ok: bool
    checks: tuple[Check, ...]
    taken_at: datetime
    finished_at: datetime
    dialect: str  # "sqlite" or "postgresql"
    alembic_revision: str | None
    row_counts: dict[str, int]
    object_count: int
    object_bytes: int
    tool_versions: dict[str, str]
    duration_seconds: float
    steps: tuple[StepTiming, ...] = field(default=())


@dataclass(frozen=True)
class VerifyReport(_Report):
    """The result of checking a set on its own; ``ok`` only when every check passed."""

    location: str
    ok: bool
    checks: tuple[Check, ...]
    taken_at: datetime | None
    dialect: str | None
    alembic_revision: str | None
    row_counts: dict[str, int]
    object_count: int
    duration_seconds: float
    steps: tuple[StepTiming, ...] = field(default=())


@dataclass(frozen=True)
class RestoreReport(_Report):
    """The result of restoring a set (or of checking a restored target again): ``ok`` only
    when every check passed."""

    location: str
    database: str  # the target URL with its password hidden
    storage: str  # the target store: a directory or s3://bucket
    ok: bool
    checks: tuple[Check, ...]
    taken_at: datetime
    alembic_revision: str | None
    row_counts: dict[str, int]
    object_count: int
    duration_seconds: float
    steps: tuple[StepTiming, ...] = field(default=())


def failed_checks(checks: Sequence[Check]) -> list[Check]:
    """The checks that did not pass."""
    return [check for check in checks if not check.ok]


class Clock:
    """Times the steps of one operation."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.steps: list[StepTiming] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.steps.append(StepTiming(name, time.monotonic() - began))

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Problems:
    """What one check found wrong; the first few are named in its detail."""

    SHOWN = 10

    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[str] = []

    def add(self, problem: str) -> None:
        self.found.append(problem)

    def check(self, passed: str) -> Check:
        """A passing check saying ``passed``, or a failing one listing the problems."""
        if not self.found:
            return Check(self.name, True, passed)
        shown = "; ".join(self.found[: self.SHOWN])
        more = len(self.found) - self.SHOWN
        tail = f"; and {more} more" if more > 0 else ""
        return Check(self.name, False, f"{len(self.found)} problem(s): {shown}{tail}")
