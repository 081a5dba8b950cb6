"""The Stage protocol and the frozen context every stage receives.

A stage turns the artifacts of earlier stages into new ones. The runner owns the database:
it claims the stage run, calls ``Stage.run`` with a ``StageContext``, and records the result
(stage status, artifact rows, lecture fields, the next stage) in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from pegasus.config import TranscriptionMode
from pegasus.errors import ObjectMissingError
from pegasus.presets import Preset
from pegasus.storage.base import ObjectStore, StoredObject
from pegasus.storage.keys import lecture_key
from pegasus.transcription.pii import RedactionPolicy
from pegasus.transcription.schemas import Transcript

ProgressCallback = Callable[[float, str], None]
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class ArtifactRef:
    """Where a lecture's artifact row says its object is, and the row's version."""

    key: str
    version: int


def versioned_name(name: str, version: int | str) -> str:
    """``transcript.json`` as version 3: ``transcript.v3.json`` (the version goes between
    the stem and the extension, so the file type stays recognisable)."""
    directory, _, base = name.rpartition("/")
    stem, dot, extension = base.partition(".")
    versioned = f"{stem}.v{version}{dot}{extension}"
    return f"{directory}/{versioned}" if directory else versioned


@dataclass(frozen=True)
class StageContext:
    """What every stage may use for one run: ids, names, the preset, the course's PII
    policy and transcription mode, the store, a scratch directory and the progress
    callback. No settings: a stage that needs a settings group (media limits, the speech
    model, the LLM endpoint) gets that group, and only that, in its constructor from the
    composition root, so no stage can read the database URL, storage keys or another
    part's secrets."""

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
    #: The lecture's artifact rows when the run started, by kind (the runner fills it).
    artifacts: Mapping[str, ArtifactRef] = field(default_factory=lambda: MappingProxyType({}))
    #: The course's PII policy, applied to the transcript before it is stored (the runner
    #: fills it from the course row). The default redacts every kind: a context built
    #: without the course's policy never stores an unredacted transcript.
    redaction: RedactionPolicy = field(default_factory=RedactionPolicy)
    #: How to transcribe: the preset's mode, else the course's (the runner fills it with
    #: ``pegasus.presets.chosen_transcription_mode``); None: the server's setting.
    transcription_mode: TranscriptionMode | None = None

    def key(self, name: str) -> str:
        """The object key of this lecture's artifact ``name`` (deterministic, so idempotent)."""
        return lecture_key(self.course_id, self.lecture_id, name)

    def input_key(self, kind: str, name: str) -> str:
        """Where artifact ``kind`` is stored: its row's key (a review edit moves it to a new
        version's key), or ``key(name)`` when the lecture has no such row."""
        ref = self.artifacts.get(kind)
        return ref.key if ref is not None else self.key(name)

    def output_key(self, kind: str, name: str) -> str:
        """Where this run writes artifact ``kind``: ``key(name)``, unless the kind's row
        points there already; then the next version's name (``versioned_name``), so the
        object the committed row describes is never overwritten before the runner's commit
        switches the row. The same on every retry until that commit: idempotent."""
        ref = self.artifacts.get(kind)
        plain = self.key(name)
        if ref is None or ref.key != plain:
            return plain
        return self.key(versioned_name(name, ref.version + 1))

    def read_json(self, kind: str, name: str, model: type[ModelT]) -> ModelT:
        """Artifact ``kind`` parsed as ``model``; ``ObjectMissingError`` (a specific code, not
        an internal error) when it is missing or is not what the row says it is."""
        key = self.input_key(kind, name)
        return parse_stored(self.store.get_bytes(key), model, kind=kind, key=key)


def parse_stored(data: bytes, model: type[ModelT], *, kind: str, key: str) -> ModelT:
    """Stored JSON of artifact ``kind`` as ``model``; ``ObjectMissingError`` (a specific code
    and a learner's sentence, not an internal error) when it does not parse."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise ObjectMissingError(
            f"The stored {kind} of this lecture is damaged and cannot be read.",
            key=key,
            kind=kind,
        ) from exc


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
    - be idempotent: write only to deterministic keys (``StageContext.output_key``) so
      running it again after a crash overwrites rather than duplicates, and never to the key
      a committed artifact row points to (``output_key`` sees to both);
    - read the artifacts of earlier stages through their rows (``StageContext.input_key``,
      ``read_json``), never by a fixed name: a review edit stores a new version elsewhere;
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
