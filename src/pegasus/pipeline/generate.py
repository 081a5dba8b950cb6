"""Generate: the study kit (summary, key terms) computed from the stored transcript."""

from __future__ import annotations

from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.transcribe import TRANSCRIPT_NAME
from pegasus.studykit.edits import merge_learner_edits
from pegasus.studykit.generator import generate_kit
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

KIT = "kit"
KIT_NAME = "study-kit.json"


class GenerateStage:
    """Writes ``kit``; the transcript it reads is never modified."""

    name = "generate"

    def run(self, ctx: StageContext) -> StageResult:
        ctx.report_progress(0.0, "Reading the transcript")
        transcript = Transcript.model_validate_json(ctx.store.get_bytes(ctx.key(TRANSCRIPT_NAME)))
        ctx.report_progress(0.2, "Writing the summary and key terms")
        previous = (
            StudyKit.model_validate_json(ctx.store.get_bytes(ctx.key(KIT_NAME)))
            if ctx.store.exists(ctx.key(KIT_NAME))
            else None
        )
        kit = merge_learner_edits(previous, generate_kit(transcript, ctx.preset))
        stored = ctx.store.put_bytes(
            ctx.key(KIT_NAME),
            kit.model_dump_json().encode("utf-8"),
            content_type="application/json",
        )
        ctx.report_progress(
            1.0, f"{len(kit.summary)} summary sentences, {len(kit.key_terms)} key terms"
        )
        return StageResult(
            artifacts=[ArtifactOut(kind=KIT, stored=stored, content_type="application/json")]
        )
