"""Generate: the study kit computed from the stored transcript, offline or by an LLM."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pegasus.config import LlmSettings
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.transcribe import TRANSCRIPT_NAME
from pegasus.presets import Preset
from pegasus.studykit.edits import merge_learner_edits
from pegasus.studykit.generator import generate_kit
from pegasus.studykit.llm import LlmConfig, LlmGenerator, LlmInvalidOutputError, LlmUnavailableError
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

log = structlog.get_logger(__name__)

KIT = "kit"
KIT_NAME = "study-kit.json"

KitGenerator = Callable[[Transcript, Preset], StudyKit]


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

    def llm_with_fallback(transcript: Transcript, preset: Preset) -> StudyKit:
        try:
            return llm.generate(transcript, preset)
        except (LlmUnavailableError, LlmInvalidOutputError) as exc:
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
        transcript = Transcript.model_validate_json(ctx.store.get_bytes(ctx.key(TRANSCRIPT_NAME)))
        ctx.report_progress(0.2, "Writing the study kit")
        previous = (
            StudyKit.model_validate_json(ctx.store.get_bytes(ctx.key(KIT_NAME)))
            if ctx.store.exists(ctx.key(KIT_NAME))
            else None
        )
        kit = merge_learner_edits(previous, self._generate(transcript, ctx.preset))
        _carry_versions(previous, kit)
        stored = ctx.store.put_bytes(
            ctx.key(KIT_NAME),
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
