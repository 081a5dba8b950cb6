"""Ingest: probe the uploaded recording and write the 16 kHz mono copy ASR reads."""

from __future__ import annotations

from pegasus.config import MediaSettings
from pegasus.media.probe import probe
from pegasus.media.transcode import transcode_to_wav16k
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult

SOURCE = "source"
AUDIO = "audio"
AUDIO_NAME = "audio-16k.wav"


class IngestStage:
    """Rejects what is not decodable audio, empty, too long or corrupt; writes ``audio``."""

    name = "ingest"

    def __init__(self, media: MediaSettings) -> None:
        self._max_duration_seconds = media.max_duration_seconds

    def run(self, ctx: StageContext) -> StageResult:
        # Named as the learner named it, so media errors quote a name they recognise.
        source = ctx.workdir / "upload" / ctx.source_name
        source.parent.mkdir()
        ctx.report_progress(0.0, "Checking the recording")
        ctx.store.download_to(ctx.input_key(SOURCE, SOURCE), source)
        info = probe(source, max_duration_seconds=self._max_duration_seconds)
        ctx.report_progress(0.1, "Converting the audio")
        wav = ctx.workdir / AUDIO_NAME
        duration = transcode_to_wav16k(
            source,
            wav,
            max_duration_seconds=self._max_duration_seconds,
            on_progress=lambda done: ctx.report_progress(0.1 + 0.8 * done, "Converting the audio"),
        )
        stored = ctx.store.put_file(
            ctx.output_key(AUDIO, AUDIO_NAME), wav, content_type="audio/wav"
        )
        ctx.report_progress(1.0, f"{info.audio_codec} audio, {duration:.0f} s")
        return StageResult(
            artifacts=[ArtifactOut(kind=AUDIO, stored=stored, content_type="audio/wav")],
            duration_seconds=duration,
        )
