"""Read a 16 kHz mono WAV in fixed windows, so transcription never holds a whole lecture."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pegasus.media.transcode import SAMPLE_RATE, SAMPLE_WIDTH_BYTES

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_INT16_SCALE = 32768.0


@dataclass(frozen=True, eq=False)  # eq=False: numpy arrays have no single truth value
class AudioWindow:
    """One slice of the recording: float32 mono 16 kHz samples in [-1, 1] from an offset."""

    offset_seconds: float
    samples: npt.NDArray[np.float32]

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@contextmanager
def _open_16k(wav_path: Path) -> Iterator[wave.Wave_read]:
    with wave.open(str(wav_path), "rb") as reader:
        shape = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
        if shape != (1, SAMPLE_WIDTH_BYTES, SAMPLE_RATE):
            raise ValueError(
                f"{wav_path} is (channels, sample width, rate) {shape}; expected 16 kHz mono "
                "16-bit WAV from transcode_to_wav16k"
            )
        yield reader


def iter_windows(wav_path: Path, window_seconds: float) -> Iterator[AudioWindow]:
    """Yield consecutive windows of ``window_seconds`` (the last may be shorter)."""
    import numpy as np  # imported when audio is read, not at start

    if window_seconds <= 0:
        raise ValueError("window_seconds must be positive")
    frames_per_window = max(1, round(window_seconds * SAMPLE_RATE))
    with _open_16k(wav_path) as reader:
        position = 0
        while raw := reader.readframes(frames_per_window):
            samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(_INT16_SCALE)
            yield AudioWindow(offset_seconds=position / SAMPLE_RATE, samples=samples)
            position += len(samples)


def wav_duration(wav_path: Path) -> float:
    """Duration in seconds of a 16 kHz mono WAV written by ``transcode_to_wav16k``."""
    with _open_16k(wav_path) as reader:
        return reader.getnframes() / SAMPLE_RATE
