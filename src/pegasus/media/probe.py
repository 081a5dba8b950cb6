"""Find out what an uploaded recording is before any heavy work is spent on it.

``probe`` opens the file with PyAV, checks that it has an audio track that decodes and that
it is not longer than the server accepts. Every refusal is a ``MediaError`` subclass whose
message tells the learner what to do.

The duration comes from the audio stream, else from the container. Some files do not state
one (webm written live by a browser's MediaRecorder has no duration and no index); for those
``MediaInfo.duration_seconds`` is ``0.0`` and ``transcode_to_wav16k`` enforces the limit
while decoding instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import av
    import av.container

from pegasus.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLongError,
    NoAudioError,
    UnsupportedMediaError,
)

# The first bytes we look at to tell "damaged recording" from "not a recording at all".
_SIGNATURE_BYTES: Final = 64
# Demuxed packets read while looking for the first decodable audio frame.
_MAX_PROBE_PACKETS: Final = 500
_LABELS: Final = {
    "mp4": "MP4/M4A",
    "wav": "WAV",
    "ogg": "Ogg",
    "flac": "FLAC",
    "matroska": "WebM/MKV",
    "mp3": "MP3",
    "mpeg-audio": "MP3/AAC",
}


@dataclass(frozen=True)
class MediaInfo:
    """What a recording is: container, first audio track and whether it also has video.

    ``container`` is FFmpeg's demuxer name (``"wav"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``,
    ``"matroska,webm"``...). ``duration_seconds`` is ``0.0`` when the file does not say.
    """

    container: str
    audio_codec: str
    duration_seconds: float
    sample_rate: int
    channels: int
    has_video: bool


def sniff_container(head: bytes) -> str | None:
    """The media family that the first bytes of a file announce, or None if none is known."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:3] == b"ID3":
        return "mp3"
    # MPEG audio frame sync (11 set bits); also matches raw ADTS AAC.
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mpeg-audio"
    return None


def format_duration(seconds: float) -> str:
    """``75.0`` -> ``"1:15"``; ``3725.0`` -> ``"1:02:05"``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def too_long_error(seconds: float, max_duration_seconds: float) -> MediaTooLongError:
    """The error for a recording of ``seconds`` over the ``max_duration_seconds`` limit."""
    return MediaTooLongError(
        f"The recording is {format_duration(seconds)} long; this server accepts at most "
        f"{format_duration(max_duration_seconds)}. Split it into shorter parts and upload "
        "each one.",
        duration_seconds=seconds,
        max_duration_seconds=max_duration_seconds,
    )


def unreadable_error(path: Path, signature: str | None, detail: str) -> Exception:
    """Corrupt when the bytes announce a known container, else unsupported."""
    if signature is not None:
        label = _LABELS.get(signature, signature)
        return CorruptMediaError(
            f"'{path.name}' ({label}) is damaged or incomplete (was the upload cut off?). "
            "Upload the original file again.",
            signature=signature,
            detail=detail,
        )
    return UnsupportedMediaError(
        f"'{path.name}' is not an audio or video recording Pegasus can read. Upload an m4a, "
        "mp3, wav, ogg, webm, flac or mp4 file.",
        detail=detail,
    )


def read_signature(path: Path) -> str | None:
    """The container family announced by ``path``'s first bytes (see ``sniff_container``)."""
    with path.open("rb") as fh:
        return sniff_container(fh.read(_SIGNATURE_BYTES))


def probe(path: Path, *, max_duration_seconds: float) -> MediaInfo:
    """Describe ``path``'s first audio track, refusing what Pegasus cannot transcribe.

    Raises EmptyMediaError (0 bytes), UnsupportedMediaError (not media), CorruptMediaError
    (a known container that does not open or decode), NoAudioError and MediaTooLongError.
    The first audio frame is decoded, so a file that passes is readable at least that far.
    """
    import av  # PyAV loads FFmpeg's libraries: imported when media is read, not at start

    if path.stat().st_size == 0:
        raise EmptyMediaError(
            f"'{path.name}' is empty (0 bytes). Record or pick the lecture again and upload "
            "it once more."
        )
    signature = read_signature(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise unreadable_error(path, signature, str(exc)) from exc
    with container:
        return _describe(path, container, signature, max_duration_seconds)


def _describe(
    path: Path,
    container: av.container.InputContainer,
    signature: str | None,
    max_duration_seconds: float,
) -> MediaInfo:
    import av

    if not container.streams.audio:
        if signature is None and not container.streams.video:
            raise unreadable_error(path, signature, "no streams")
        raise NoAudioError(
            f"'{path.name}' has no sound track. Upload a recording with sound, or export the "
            "audio from your recording app."
        )
    stream = container.streams.audio[0]
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    duration = max(duration, 0.0)
    if duration > max_duration_seconds:
        raise too_long_error(duration, max_duration_seconds)

    codec = stream.codec_context
    try:
        if not _decodes_one_frame(container, stream):
            raise unreadable_error(path, signature or container.format.name, "no audio frame")
    except av.FFmpegError as exc:
        raise unreadable_error(path, signature or container.format.name, str(exc)) from exc
    return MediaInfo(
        container=container.format.name,
        audio_codec=codec.name,
        duration_seconds=duration,
        sample_rate=codec.sample_rate,
        channels=codec.channels,
        has_video=bool(container.streams.video),
    )


def _decodes_one_frame(container: av.container.InputContainer, stream: av.AudioStream) -> bool:
    for count, packet in enumerate(container.demux(stream)):
        if count >= _MAX_PROBE_PACKETS:
            return False
        for frame in packet.decode():
            if frame.samples > 0:
                return True
    return False
