"""Read-only views of pipeline state, for the slices that show it (no transitions here)."""

from __future__ import annotations

from pegasus.db.models import Lecture, StageRun


def latest_runs(lecture: Lecture) -> dict[str, StageRun]:
    """The newest attempt of each stage that has one."""
    newest: dict[str, StageRun] = {}
    for run in lecture.stage_runs:
        current = newest.get(run.stage)
        if current is None or run.attempt > current.attempt:
            newest[run.stage] = run
    return newest
