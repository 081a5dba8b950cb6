"""iter_windows and wav_duration: window offsets, lengths and sample scaling."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from pegasus.media.windows import iter_windows, wav_duration

RATE = 16_000


def write_wav(
    path: Path, samples: np.ndarray[tuple[int], np.dtype[np.int16]], rate: int = RATE
) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def ramp(seconds: float) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
    """Sample i holds i modulo 30000, so each window's first sample reveals where it starts."""
    return (np.arange(int(seconds * RATE)) % 30_000).astype(np.int16)


def test_windows_cover_the_file_in_order_with_absolute_offsets(tmp_path: Path) -> None:
    samples = ramp(10.5)
    wav = write_wav(tmp_path / "a.wav", samples)

    windows = list(iter_windows(wav, 4.0))

    assert [w.offset_seconds for w in windows] == [0.0, 4.0, 8.0]
    assert [len(w.samples) for w in windows] == [64_000, 64_000, 40_000]
    assert [w.duration_seconds for w in windows] == [4.0, 4.0, 2.5]
    for window in windows:
        start = round(window.offset_seconds * RATE)
        expected = samples[start : start + len(window.samples)] / 32768.0
        np.testing.assert_allclose(window.samples, expected, atol=1e-7)
        assert window.samples.dtype == np.float32


def test_samples_are_scaled_into_minus_one_to_one(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", np.array([-32768, 0, 16384, 32767], dtype=np.int16))

    (window,) = iter_windows(wav, 1.0)

    assert window.samples.tolist() == pytest.approx([-1.0, 0.0, 0.5, 32767 / 32768])


def test_window_longer_than_the_file_yields_it_whole(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", ramp(1.25))

    windows = list(iter_windows(wav, 300.0))

    assert len(windows) == 1
    assert windows[0].offset_seconds == 0.0
    assert len(windows[0].samples) == 20_000


def test_empty_wav_yields_no_window(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", np.zeros(0, dtype=np.int16))

    assert list(iter_windows(wav, 4.0)) == []
    assert wav_duration(wav) == 0.0


def test_wav_duration_counts_frames(tmp_path: Path) -> None:
    assert wav_duration(write_wav(tmp_path / "a.wav", ramp(2.5))) == 2.5


def test_a_wav_that_is_not_16k_mono_is_refused(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", ramp(1.0), rate=22_050)

    with pytest.raises(ValueError, match="16 kHz mono"):
        list(iter_windows(wav, 1.0))
    with pytest.raises(ValueError, match="16 kHz mono"):
        wav_duration(wav)


def test_window_seconds_must_be_positive(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", ramp(1.0))

    with pytest.raises(ValueError, match="positive"):
        list(iter_windows(wav, 0.0))
