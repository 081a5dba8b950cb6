"""Fakes Pegasus ships for its own fast tests. Never used by the running service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class FakeClock:
    """A clock that only moves when told to; call it to read the time."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingDispatcher:
    """A Dispatcher that records what would have been sent, in order."""

    sent: list[tuple[str, float]] = field(default_factory=list)

    def send(self, stage_run_id: str, delay_seconds: float = 0.0) -> None:
        self.sent.append((stage_run_id, delay_seconds))

    def ping(self) -> None:
        return None

    def take(self) -> list[tuple[str, float]]:
        """Everything sent since the last call."""
        sent, self.sent = self.sent, []
        return sent
