"""Generate: the study kit computed from the stored transcript, offline or by an LLM."""

from __future__ import annotations

from typing import Protocol

import structlog

from pegasus.config import LlmSettings
from pegasus.errors import (
    LlmInvalidOutputError,
    LlmRefusedError,
    LlmUnavailableError,
    ObjectMissingError,
)
from pegasus.pipeline.base import ArtifactOut, ProgressCallback, StageContext, StageResult
from pegasus.pipeline.transcribe import TRANSCRIPT, TRANSCRIPT_NAME
from pegasus.presets import Preset
from pegasus.studykit.edits import merge_learner_edits
from pegasus.studykit.generator import generate_kit
from pegasus.studykit.llm import LlmGenerator
from pegasus.studykit.llm_config import LlmConfig
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

log = structlog.get_logger(__name__)

KIT = "kit"
KIT_NAME = "study-kit.json"
#: The share of the stage's progress bar that generation fills (reading and storing the rest).
_GENERATING_FROM, _GENERATING_TO = 0.2, 0.95


class KitGenerator(Protocol):
    """Makes the kit a preset wants from a transcript, telling ``on_progress`` (0..1, a
    message) how far it is when it takes long (one report per model call)."""

    def __call__(
        self, transcript: Transcript, preset: Preset, on_progress: ProgressCallback | None = None
    ) -> StudyKit: ...


def build_kit_generator(settings: LlmSettings) -> KitGenerator:
    """The offline generator, or the configured LLM endpoint (optionally falling back to
    the offline generator when the endpoint fails or answers nonsense)."""
    if not settings.base_url:
        return generate_kit
    llm = LlmGenerator(
        LlmConfig(
            base_url=settings.base_url,
            model=settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout_seconds=settings.timeout_seconds,
            max_retries=settings.max_retries,
            window_seconds=settings.window_seconds,
        )
    )
    if not settings.fallback_offline:
        return llm.generate

    def llm_with_fallback(
        transcript: Transcript, preset: Preset, on_progress: ProgressCallback | None = None
    ) -> StudyKit:
        # Falls back at once, also on a transient error: the operator chose an offline kit
        # now over waiting for the queue to retry the endpoint.
        try:
            return llm.generate(transcript, preset, on_progress)
        except (LlmUnavailableError, LlmRefusedError, LlmInvalidOutputError) as exc:
            log.warning("generation.llm.fallback_offline", error_code=exc.code)
            return generate_kit(transcript, preset)

    return llm_with_fallback


class GenerateStage:
    """Writes ``kit``; the transcript it reads is never modified, and the learner's edits
    to an earlier kit are kept (``merge_learner_edits``)."""

    name = "generate"

    def __init__(self, generator: KitGenerator = generate_kit) -> None:
        self._generate = generator

    def run(self, ctx: StageContext) -> StageResult:
        ctx.report_progress(0.0, "Reading the transcript")
        transcript = ctx.read_json(TRANSCRIPT, TRANSCRIPT_NAME, Transcript)
        ctx.report_progress(0.2, "Writing the study kit")
        previous = _previous_kit(ctx)
        kit = merge_learner_edits(
            previous, self._generate(transcript, ctx.preset, _scaled(ctx.report_progress))
        )
        _carry_versions(previous, kit)
        stored = ctx.store.put_bytes(
            ctx.output_key(KIT, KIT_NAME),
            kit.model_dump_json().encode("utf-8"),
            content_type="application/json",
        )
        ctx.report_progress(
            1.0,
            f"{len(kit.key_terms)} key terms, {len(kit.flashcards)} flashcards, "
            f"{len(kit.quiz)} quiz questions",
        )
        return StageResult(
            artifacts=[ArtifactOut(kind=KIT, stored=stored, content_type="application/json")]
        )


def _previous_kit(ctx: StageContext) -> StudyKit | None:
    """The kit a regenerate starts from (its row's version: the learner's edits), or None
    on the first run. A kit row whose object is gone is logged and regenerated from the
    transcript rather than failing the lecture for good."""
    if KIT not in ctx.artifacts and (ctx.artifacts or not ctx.store.exists(ctx.key(KIT_NAME))):
        return None  # no kit row: the first run (what an earlier attempt left is not one)
    try:
        return ctx.read_json(KIT, KIT_NAME, StudyKit)
    except ObjectMissingError as exc:
        log.warning(
            "pipeline.generate.previous_kit_unreadable",
            lecture_id=ctx.lecture_id,
            key=exc.context.get("key"),
        )
        return None


def _scaled(report: ProgressCallback) -> ProgressCallback:
    """The generator's 0..1 mapped onto the stage's generating share of its progress."""

    def on_progress(fraction: float, message: str) -> None:
        share = min(max(fraction, 0.0), 1.0)
        report(_GENERATING_FROM + (_GENERATING_TO - _GENERATING_FROM) * share, message)

    return on_progress


def _carry_versions(previous: StudyKit | None, kit: StudyKit) -> None:
    """Items keep their version through a regenerate, +1 where their content changed, so
    an ``If-Match`` taken before the regenerate no longer matches a changed item."""
    for collection in ("flashcards", "quiz"):
        before = {item.id: item for item in getattr(previous, collection, [])}
        for item in getattr(kit, collection):
            old = before.get(item.id)
            if old is not None and old is not item:
                same = old.model_dump(exclude={"version"}) == item.model_dump(exclude={"version"})
                item.version = old.version if same else old.version + 1
