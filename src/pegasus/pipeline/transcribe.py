"""Transcribe: faster-whisper over the 16 kHz audio, in windows, stored as JSON."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pegasus.config import TranscriptionSettings
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.ingest import AUDIO, AUDIO_NAME
from pegasus.transcription.transcriber import Transcriber

TRANSCRIPT = "transcript"
TRANSCRIPT_NAME = "transcript.json"


def shared_transcriber(settings: TranscriptionSettings) -> Callable[[], Transcriber]:
    """A factory that loads the speech model on first use and then hands every thread the
    same one; it holds the transcription settings and nothing else."""
    lock = threading.Lock()
    loaded: list[Transcriber] = []

    def transcriber() -> Transcriber:
        with lock:
            if not loaded:
                loaded.append(Transcriber(settings))
            return loaded[0]

    return transcriber


class TranscribeStage:
    """Writes ``transcript``; the model is loaded once per process by ``transcriber``
    (``shared_transcriber``)."""

    name = "transcribe"

    def __init__(self, transcriber: Callable[[], Transcriber]) -> None:
        self._transcriber = transcriber

    def run(self, ctx: StageContext) -> StageResult:
        wav = ctx.workdir / AUDIO_NAME
        ctx.report_progress(0.0, "Loading the audio")
        ctx.store.download_to(ctx.input_key(AUDIO, AUDIO_NAME), wav)
        ctx.report_progress(0.0, "Loading the speech model")
        hotwords = " ".join(ctx.preset.glossary) or None
        transcript = self._transcriber().transcribe(
            wav, hotwords=hotwords, on_progress=ctx.report_progress
        )
        data = transcript.model_dump_json().encode("utf-8")
        stored = ctx.store.put_bytes(
            ctx.output_key(TRANSCRIPT, TRANSCRIPT_NAME), data, content_type="application/json"
        )
        ctx.report_progress(1.0, f"{len(transcript.segments)} segments")
        return StageResult(
            artifacts=[
                ArtifactOut(kind=TRANSCRIPT, stored=stored, content_type="application/json")
            ],
            transcript=transcript,
        )
