"""Decode any accepted recording to the one format speech recognition reads: 16 kHz mono WAV.

Decoding streams frame by frame into the WAV file, so memory stays constant whatever the
length of the recording. The WAV is written next to ``dst`` under a temporary name and
renamed when complete: ``dst`` is either absent or whole, never partial.
"""

from __future__ import annotations

import contextlib
import uuid
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

import structlog

from pegasus.errors import CorruptMediaError
from pegasus.media.probe import MediaInfo, probe, too_long_error, unreadable_error

if TYPE_CHECKING:
    import av
    import av.container

SAMPLE_RATE: Final = 16_000
SAMPLE_WIDTH_BYTES: Final = 2
# Decoded audio shorter than this fraction of what the container claims, and short by more
# than _TRUNCATION_SLACK_SECONDS, means the upload was cut off.
_TRUNCATION_RATIO: Final = 0.9
_TRUNCATION_SLACK_SECONDS: Final = 2.0
# Report progress at most once per this fraction of the recording.
_PROGRESS_STEP: Final = 0.01

log = structlog.get_logger(__name__)


def transcode_to_wav16k(
    src: Path,
    dst: Path,
    *,
    max_duration_seconds: float,
    on_progress: Callable[[float], None] | None = None,
) -> float:
    """Decode ``src``'s first audio track into ``dst`` as 16 kHz mono 16-bit WAV.

    Returns the decoded duration in seconds. ``on_progress`` receives the fraction done,
    0..1 (decoded time over the probed duration; only 1.0 at the end when the container
    does not state a duration). Raises the ``probe`` errors, MediaTooLongError once decoding
    passes ``max_duration_seconds``, and CorruptMediaError when decoding fails midway, yields
    nothing, or yields much less audio than the container claims (a truncated upload).
    """
    import av  # PyAV loads FFmpeg's libraries: imported when media is read, not at start

    info = probe(src, max_duration_seconds=max_duration_seconds)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
    try:
        with av.open(str(src), mode="r", metadata_errors="ignore") as container:
            frames = _decode_into(
                container, tmp, info, src, max_duration_seconds, on_progress=on_progress
            )
        seconds = frames / SAMPLE_RATE
        _check_complete(src, info, seconds)
        tmp.replace(dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if on_progress is not None:
        on_progress(1.0)
    log.info(
        "media.transcode.finished",
        src=src.name,
        container=info.container,
        codec=info.audio_codec,
        seconds=round(seconds, 3),
    )
    return seconds


def _decode_into(
    container: av.container.InputContainer,
    tmp: Path,
    info: MediaInfo,
    src: Path,
    max_duration_seconds: float,
    *,
    on_progress: Callable[[float], None] | None,
) -> int:
    """Stream the first audio track into the WAV at ``tmp``; the number of frames written."""
    import av

    stream = container.streams.audio[0]
    max_frames = int(max_duration_seconds * SAMPLE_RATE)
    written = 0
    reported = 0.0
    resampler: av.AudioResampler | None = None
    source_format: tuple[str, str, int] | None = None
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH_BYTES)
        out.setframerate(SAMPLE_RATE)

        def write(frames: list[av.AudioFrame]) -> None:
            nonlocal written
            for frame in frames:
                out.writeframesraw(frame.to_ndarray().tobytes())
                written += frame.samples
            if written > max_frames:
                raise too_long_error(written / SAMPLE_RATE, max_duration_seconds)

        try:
            for frame in container.decode(stream):
                # A stream may change rate or layout midway; a resampler serves one input
                # format, so flush it and start a new one.
                fmt = (frame.format.name, frame.layout.name, frame.sample_rate)
                if resampler is None or fmt != source_format:
                    if resampler is not None:
                        write(resampler.resample(None))
                    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
                    source_format = fmt
                write(resampler.resample(frame))
                if on_progress is not None and info.duration_seconds > 0:
                    fraction = min(written / SAMPLE_RATE / info.duration_seconds, 1.0)
                    if fraction - reported >= _PROGRESS_STEP:
                        reported = fraction
                        on_progress(fraction)
            if resampler is not None:
                write(resampler.resample(None))
        except av.FFmpegError as exc:
            raise CorruptMediaError(
                f"'{src.name}' stops decoding after {written / SAMPLE_RATE:.0f} s: the "
                "recording is damaged or incomplete. Upload the original file again.",
                decoded_seconds=written / SAMPLE_RATE,
                detail=str(exc),
            ) from exc
    return written


def _check_complete(src: Path, info: MediaInfo, seconds: float) -> None:
    if seconds <= 0:
        raise unreadable_error(src, info.container, "no audio samples decoded")
    claimed = info.duration_seconds
    if (
        claimed > 0
        and seconds < claimed * _TRUNCATION_RATIO
        and claimed - seconds > _TRUNCATION_SLACK_SECONDS
    ):
        raise CorruptMediaError(
            f"'{src.name}' says it lasts {claimed:.0f} s but only {seconds:.0f} s of sound "
            "could be read: the upload was probably cut off. Upload the whole file again.",
            claimed_seconds=claimed,
            decoded_seconds=seconds,
        )
