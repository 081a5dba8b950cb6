"""Synthetic lecture recordings for tests and benchmarks.

Speech comes from ``espeak-ng`` (``apt-get install espeak-ng``); every other format is
encoded with PyAV, so no system ffmpeg is needed. Supported formats and what they hold:

========  =====================================  ==========
fmt       codec                                  container
========  =====================================  ==========
wav       PCM s16le                              wav
m4a       AAC                                    ipod (m4a)
mp4       AAC plus a tiny black MPEG-4 video     mp4
mp3       MP3 (LAME)                             mp3
webm      Opus                                   webm
ogg       Vorbis (stereo)                        ogg
flac      FLAC                                   flac
========  =====================================  ==========
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Final

import av
import av.container
import numpy as np

FORMATS: Final = ("wav", "m4a", "mp4", "mp3", "webm", "ogg", "flac")


@dataclass(frozen=True)
class _Encoding:
    muxer: str
    codec: str
    rate: int | None  # None: keep the source rate
    options: dict[str, str]
    layout: str = "mono"


_ENCODINGS: Final = {
    "wav": _Encoding("wav", "pcm_s16le", None, {}),
    "m4a": _Encoding("ipod", "aac", None, {}),
    "mp4": _Encoding("mp4", "aac", None, {}),
    "mp3": _Encoding("mp3", "libmp3lame", None, {}),
    "webm": _Encoding("webm", "libopus", 48_000, {}),
    # FFmpeg's own Vorbis encoder is flagged experimental and encodes stereo only.
    "ogg": _Encoding("ogg", "vorbis", None, {"strict": "experimental"}, layout="stereo"),
    "flac": _Encoding("flac", "flac", None, {}),
}
_VIDEO_SIZE: Final = 64
_VIDEO_FPS: Final = 2


def espeak_ng() -> str:
    """Path of the espeak-ng binary, or a RuntimeError that says how to install it."""
    found = shutil.which("espeak-ng")
    if found is None:
        raise RuntimeError(
            "espeak-ng is not installed; the speech test fixtures need it: "
            "apt-get install espeak-ng"
        )
    return found


def synthesize_speech(
    text: str, dst: Path, *, fmt: str = "wav", wpm: int = 150, streamed: bool = False
) -> Path:
    """Speak ``text`` with espeak-ng into ``dst`` as ``fmt`` (see the module table).

    ``streamed`` writes the container to a non-seekable stream, as a browser's
    MediaRecorder does: no duration and no index in the file.
    """
    if fmt not in _ENCODINGS:
        raise ValueError(f"unknown fmt {fmt!r}; expected one of {', '.join(FORMATS)}")
    with tempfile.TemporaryDirectory(prefix="pegasus-tts-") as tmp:
        spoken = Path(tmp) / "speech.wav"
        subprocess.run(
            [espeak_ng(), "-w", str(spoken), "-s", str(wpm), text],
            check=True,
            capture_output=True,
        )
        return encode_wav(spoken, dst, fmt=fmt, streamed=streamed)


def encode_wav(src: Path, dst: Path, *, fmt: str, streamed: bool = False) -> Path:
    """Encode the WAV ``src`` into ``dst`` as ``fmt`` with PyAV (see the module table)."""
    encoding = _ENCODINGS[fmt]
    dst.parent.mkdir(parents=True, exist_ok=True)
    if streamed:
        with dst.open("wb") as fh:
            _encode(src, _Unseekable(fh), encoding, with_video=fmt == "mp4")
    else:
        _encode(src, str(dst), encoding, with_video=fmt == "mp4")
    return dst


class _Unseekable:
    """A write-only file object: PyAV cannot seek back to write a duration or an index."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def write(self, data: bytes) -> int:
        return self._fh.write(data)


def _encode(src: Path, target: str | _Unseekable, encoding: _Encoding, *, with_video: bool) -> None:
    with (
        av.open(str(src), mode="r") as source,
        av.open(target, mode="w", format=encoding.muxer) as out,
    ):
        source_rate = source.streams.audio[0].codec_context.sample_rate
        rate = encoding.rate or source_rate
        audio = out.add_stream(encoding.codec, rate=rate, layout=encoding.layout)
        assert isinstance(audio, av.AudioStream)
        audio.codec_context.options = dict(encoding.options)
        audio_format = (audio.codec_context.codec.audio_formats or [audio.format])[0]
        audio.codec_context.format = audio_format
        video = _add_black_video(out) if with_video else None
        resampler = av.AudioResampler(
            format=audio_format,
            layout=encoding.layout,
            rate=rate,
            frame_size=audio.codec_context.frame_size or None,
        )
        samples_out = 0
        for frame in source.decode(audio=0):
            for chunk in resampler.resample(frame):
                samples_out += chunk.samples
                out.mux(audio.encode(chunk))
        for chunk in resampler.resample(None):
            samples_out += chunk.samples
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
        if video is not None:
            _write_black_video(out, video, seconds=samples_out / rate)


def _add_black_video(out: av.container.OutputContainer) -> av.VideoStream:
    video = out.add_stream("mpeg4", rate=_VIDEO_FPS)
    assert isinstance(video, av.VideoStream)
    video.width = video.height = _VIDEO_SIZE
    video.pix_fmt = "yuv420p"
    return video


def _write_black_video(
    out: av.container.OutputContainer, video: av.VideoStream, *, seconds: float
) -> None:
    black = np.zeros((_VIDEO_SIZE, _VIDEO_SIZE, 3), dtype=np.uint8)
    for index in range(max(1, int(seconds * _VIDEO_FPS))):
        frame = av.VideoFrame.from_ndarray(black, format="rgb24")
        frame.pts = index
        frame.time_base = Fraction(1, _VIDEO_FPS)
        out.mux(video.encode(frame))
    out.mux(video.encode(None))


def make_video_without_audio(dst: Path, *, seconds: float = 2.0) -> Path:
    """An mp4 with a tiny black video track and no sound track."""
    with av.open(str(dst), mode="w", format="mp4") as out:
        _write_black_video(out, _add_black_video(out), seconds=seconds)
    return dst


def truncate_file(src: Path, dst: Path, keep_fraction: float) -> Path:
    """Copy the first ``keep_fraction`` of ``src``'s bytes to ``dst`` (a cut-off upload)."""
    if not 0 <= keep_fraction <= 1:
        raise ValueError("keep_fraction must be within 0..1")
    remaining = int(src.stat().st_size * keep_fraction)
    with src.open("rb") as reader, dst.open("wb") as writer:
        while remaining > 0:
            block = reader.read(min(remaining, 1 << 20))
            if not block:
                break
            writer.write(block)
            remaining -= len(block)
    return dst


def read_wav_16k_mono(path: Path) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
    """Any audio file PyAV reads, as 16 kHz mono int16 samples (for short clips)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
    parts: list[np.ndarray[tuple[int], np.dtype[np.int16]]] = []
    with av.open(str(path), mode="r") as source:
        for frame in source.decode(audio=0):
            parts.extend(_mono_s16(f) for f in resampler.resample(frame))
        parts.extend(_mono_s16(f) for f in resampler.resample(None))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def _mono_s16(frame: av.AudioFrame) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
    return frame.to_ndarray().reshape(-1).astype(np.int16)


def make_long_recording(dst: Path, seconds: float, text: str) -> Path:
    """A 16 kHz mono WAV of ``seconds``: ``text`` spoken again and again, half a second apart.

    The clip is synthesized once and written repeatedly, so memory stays at one clip.
    """
    with tempfile.TemporaryDirectory(prefix="pegasus-long-") as tmp:
        clip = read_wav_16k_mono(synthesize_speech(text, Path(tmp) / "clip.wav"))
    pause = np.zeros(8_000, dtype=np.int16)
    total = int(seconds * 16_000)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(dst), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        written = 0
        for block in _cycle((clip, pause)):
            if written >= total:
                break
            part = block[: total - written]
            out.writeframes(part.tobytes())
            written += len(part)
    return dst


def _cycle(
    blocks: tuple[np.ndarray[tuple[int], np.dtype[np.int16]], ...],
) -> Iterator[np.ndarray[tuple[int], np.dtype[np.int16]]]:
    while True:
        yield from blocks
