"""Sending "run stage run X" messages, and Huey construction."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from pegasus.config import QueueSettings

RUN_STAGE_TASK = "pegasus.run_stage"


class Dispatcher(Protocol):
    """Sends a message asking a worker to run one stage run."""

    def send(self, stage_run_id: str, delay_seconds: float = 0.0) -> None: ...

    def ping(self) -> None:
        """Raise if the broker cannot be reached."""
        ...


class LocalDispatcher:
    """Collects messages in memory for a caller that runs them itself (`pegasus process`)."""

    def __init__(self) -> None:
        self.pending: deque[str] = deque()

    def send(self, stage_run_id: str, delay_seconds: float = 0.0) -> None:
        self.pending.append(stage_run_id)

    def ping(self) -> None:
        return None


def build_huey(settings: QueueSettings) -> Huey:
    """Huey on Redis for ``redis://`` URLs, otherwise Huey on the SQLite file in the URL."""
    if settings.is_redis:
        return RedisHuey(settings.name, url=settings.url, results=False, utc=True)
    path = settings.url.removeprefix("sqlite:///")
    if not path or path == settings.url:
        raise ValueError("PEGASUS_QUEUE_URL must be redis://host:port/db or sqlite:///PATH")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(settings.name, filename=path, results=False, utc=True)


class HueyDispatcher:
    """Dispatcher over a Huey instance; registers the stage task on construction."""

    def __init__(self, huey: Huey, run_stage: Callable[[str], None]) -> None:
        self.huey = huey

        def run_stage_task(stage_run_id: str) -> None:
            run_stage(stage_run_id)

        self._task: Any = huey.task(name=RUN_STAGE_TASK)(run_stage_task)

    def send(self, stage_run_id: str, delay_seconds: float = 0.0) -> None:
        if delay_seconds > 0:
            self._task.schedule(args=(stage_run_id,), delay=delay_seconds)
        else:
            self._task(stage_run_id)

    def ping(self) -> None:
        """Raise if the broker cannot be reached (asks it how many messages wait)."""
        self.huey.pending_count()
