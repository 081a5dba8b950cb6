"""Scratch directories of stage runs, named so that a sweep can tell a dead worker's.

A run's directory is ``pegasus-work-{host}-{pid}-{stage}-{random}`` in the system's temp
directory (or a root the caller names). The runner deletes it when the stage ends; a worker
killed with SIGKILL cannot, so ``sweep_dead_workdirs`` removes the directories whose
process, on this host, no longer runs. Directories of other hosts (a shared temp
directory) and of live processes are left alone; a process id reused since only keeps a
dead worker's directory a while longer, never removes a live one's.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PREFIX = "pegasus-work-"
_NAME = re.compile(r"pegasus-work-(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)-(?P<stage>[a-z_]+)-")


def host_label() -> str:
    """This host's name as it appears in a work directory's name (no ``-``, no ``/``)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:60] or "host"


def workdir_prefix(stage: str, *, pid: int | None = None, host: str | None = None) -> str:
    """The name a work directory of ``stage`` starts with, made by process ``pid`` (this
    one) on ``host`` (this one)."""
    return f"{PREFIX}{host or host_label()}-{os.getpid() if pid is None else pid}-{stage}-"


def make_workdir(stage: str, *, root: Path | None = None) -> Path:
    """A new, empty scratch directory for one run of ``stage`` by this process."""
    return Path(tempfile.mkdtemp(prefix=workdir_prefix(stage), dir=root))


@dataclass(frozen=True)
class WorkdirOwner:
    host: str
    pid: int
    stage: str


def owner_of(path: Path) -> WorkdirOwner | None:
    """Who made the work directory ``path``; None when it is not one of ours."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    return WorkdirOwner(match["host"], int(match["pid"]), match["stage"])


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (signal 0 checks without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def sweep_dead_workdirs(root: Path | None = None) -> list[Path]:
    """Remove the work directories under ``root`` (the temp directory) made on this host by
    processes that no longer run; return what was removed."""
    directory = root or Path(tempfile.gettempdir())
    host = host_label()
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        owner = owner_of(entry)
        if owner is None or owner.host != host or pid_alive(owner.pid):
            continue
        if not entry.is_dir() or entry.is_symlink():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
            log.info("sweeper.workdir.removed", path=str(entry), pid=owner.pid, stage=owner.stage)
    return removed
