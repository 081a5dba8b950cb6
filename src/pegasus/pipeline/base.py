"""The Stage protocol and the frozen context every stage receives.

A stage turns the artifacts of earlier stages into new ones. The runner owns the database:
it claims the stage run, calls ``Stage.run`` with a ``StageContext``, and records the result
(stage status, artifact rows, lecture fields, the next stage) in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pegasus.presets import Preset
from pegasus.storage.base import ObjectStore, StoredObject
from pegasus.storage.keys import lecture_key
from pegasus.transcription.schemas import Transcript

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class StageContext:
    """What every stage may use for one run: ids, names, the preset, the store, a scratch
    directory and the progress callback. No settings: a stage that needs a settings group
    (media limits, the speech model, the LLM endpoint) gets that group, and only that, in
    its constructor from the composition root, so no stage can read the database URL,
    storage keys or another part's secrets."""

    lecture_id: str
    course_id: str
    stage_run_id: str
    attempt: int
    title: str
    source_name: str  # the uploaded file's own name, for messages; never a path
    course_name: str
    preset: Preset
    store: ObjectStore
    workdir: Path
    report_progress: ProgressCallback

    def key(self, name: str) -> str:
        """The object key of this lecture's artifact ``name`` (deterministic, so idempotent)."""
        return lecture_key(self.course_id, self.lecture_id, name)


@dataclass(frozen=True)
class ArtifactOut:
    """An object a stage wrote, to be recorded as the lecture's artifact ``kind``."""

    kind: str
    stored: StoredObject
    content_type: str


@dataclass
class StageResult:
    """What a stage made: artifacts and lecture fields to record with its success."""

    artifacts: list[ArtifactOut] = field(default_factory=list)
    duration_seconds: float | None = None
    #: A new transcript to index for search (the transcribe stage sets it).
    transcript: Transcript | None = None


class Stage(Protocol):
    """One step of the pipeline.

    A stage MUST:
    - be idempotent: write only to deterministic keys (``StageContext.key``) so running it
      again after a crash overwrites rather than duplicates;
    - raise a ``PegasusError`` subclass for every failure it understands, with a message a
      learner can act on; ``transient`` errors are retried by the runner, others fail the
      lecture at once;
    - leave the database alone: it returns a ``StageResult`` and the runner records it.
    A stage SHOULD report progress (0..1 with a short message) at least every few seconds on
    long work; each report also renews the run's lease.
    A stage MAY use ``StageContext.workdir`` freely; the runner deletes it afterwards,
    whether the stage succeeded or not.
    """

    name: str

    def run(self, ctx: StageContext) -> StageResult: ...
