"""Transcribe: faster-whisper over the 16 kHz audio, in windows, redacted, stored as JSON.

The lecture is transcribed in ``StageContext.transcription_mode`` (its preset's or course's
choice) or, when that is None, the server's ``PEGASUS_TRANSCRIPTION_MODE``; the stored
transcript records the model and mode (``Transcript.recognizer``).

The course's PII policy (``StageContext.redaction``) is applied here, before the transcript
is stored: only the redacted transcript is written and handed on for the search index, so
the study kit, the exports and every reader after this stage see only redacted text
(``pegasus.transcription.pii``; ``docs/security/pii-policy.md``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import structlog

from pegasus.config import TranscriptionMode, TranscriptionSettings
from pegasus.pipeline.base import ArtifactOut, ProgressCallback, StageContext, StageResult
from pegasus.pipeline.ingest import AUDIO, AUDIO_NAME
from pegasus.transcription.pii import Redactor
from pegasus.transcription.schemas import Transcript
from pegasus.transcription.transcriber import Transcriber

log = structlog.get_logger(__name__)

TRANSCRIPT = "transcript"
TRANSCRIPT_NAME = "transcript.json"


class SpeechToText(Protocol):
    """What the stage needs of a speech recognizer (``Transcriber``; tests pass a fake)."""

    def transcribe(
        self,
        wav_path: Path,
        *,
        hotwords: str | None = None,
        on_progress: ProgressCallback | None = None,
        mode: TranscriptionMode | None = None,
    ) -> Transcript: ...


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
    """Writes ``transcript``, redacted by the course's policy; the model is loaded once per
    process by ``transcriber`` (``shared_transcriber``)."""

    name = "transcribe"

    def __init__(self, transcriber: Callable[[], SpeechToText]) -> None:
        self._transcriber = transcriber

    def run(self, ctx: StageContext) -> StageResult:
        wav = ctx.workdir / AUDIO_NAME
        ctx.report_progress(0.0, "Loading the audio")
        ctx.store.download_to(ctx.input_key(AUDIO, AUDIO_NAME), wav)
        ctx.report_progress(0.0, "Loading the speech model")
        hotwords = " ".join(ctx.preset.glossary) or None
        heard = self._transcriber().transcribe(
            wav, hotwords=hotwords, on_progress=ctx.report_progress, mode=ctx.transcription_mode
        )
        redacted = Redactor(ctx.redaction).transcript(heard)
        transcript = redacted.transcript
        # Counts per kind only: never the values, never the roster.
        log.info(
            "pipeline.transcript.redacted",
            lecture_id=ctx.lecture_id,
            course_id=ctx.course_id,
            kinds=sorted(kind.value for kind in ctx.redaction.kinds),
            roster_size=len(ctx.redaction.roster_names),
            redacted=dict(redacted.counts.by_kind),
            redacted_total=redacted.counts.total,
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
