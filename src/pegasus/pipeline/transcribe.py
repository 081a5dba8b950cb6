"""Transcribe: faster-whisper over the 16 kHz audio, in windows, stored as JSON."""

from __future__ import annotations

from collections.abc import Callable

from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.ingest import AUDIO_NAME
from pegasus.transcription.transcriber import Transcriber

TRANSCRIPT = "transcript"
TRANSCRIPT_NAME = "transcript.json"


class TranscribeStage:
    """Writes ``transcript``; the model is loaded once per process by ``transcriber``."""

    name = "transcribe"

    def __init__(self, transcriber: Callable[[], Transcriber]) -> None:
        self._transcriber = transcriber

    def run(self, ctx: StageContext) -> StageResult:
        wav = ctx.workdir / AUDIO_NAME
        ctx.report_progress(0.0, "Loading the audio")
        ctx.store.download_to(ctx.key(AUDIO_NAME), wav)
        ctx.report_progress(0.0, "Loading the speech model")
        hotwords = " ".join(ctx.preset.glossary) or None
        transcript = self._transcriber().transcribe(
            wav, hotwords=hotwords, on_progress=ctx.report_progress
        )
        data = transcript.model_dump_json().encode("utf-8")
        stored = ctx.store.put_bytes(
            ctx.key(TRANSCRIPT_NAME), data, content_type="application/json"
        )
        ctx.report_progress(1.0, f"{len(transcript.segments)} segments")
        return StageResult(
            artifacts=[
                ArtifactOut(kind=TRANSCRIPT, stored=stored, content_type="application/json")
            ],
            transcript=transcript,
        )
