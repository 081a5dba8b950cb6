"""Windows end in the middle of the quietest 200 ms of their last 10 s (a pause between
words), so no word is cut in two."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pegasus.media.windows import AudioWindow
from pegasus.transcription.transcriber import quiet_cut, quietest_cut

RATE = 16_000


def loud(seconds: float) -> npt.NDArray[np.float32]:
    """A full-scale square wave: no frame of it is quiet."""
    n = round(seconds * RATE)
    return np.where(np.arange(n) % 40 < 20, 0.5, -0.5).astype(np.float32)


def split(samples: npt.NDArray[np.float32], seconds: float) -> list[AudioWindow]:
    size = round(seconds * RATE)
    return [
        AudioWindow(start / RATE, samples[start : start + size])
        for start in range(0, len(samples), size)
    ]


def test_the_cut_is_in_the_middle_of_the_quietest_stretch_of_the_last_ten_seconds() -> None:
    samples = loud(30.0)
    pause = round(24.5 * RATE)
    samples[pause : pause + 200 * 16] = 0.0  # 200 ms of silence from 24.5 s
    samples[round(5 * RATE) : round(6 * RATE)] = 0.0  # earlier silence: outside the search

    cut = quietest_cut(samples)

    assert pause + 80 * 16 <= cut <= pause + 120 * 16


def test_a_single_quiet_frame_inside_a_word_is_not_chosen() -> None:
    """A plosive's closure: 20 ms of silence inside speech, against a real pause that is
    merely quiet (a tenth of the level) but long."""
    samples = loud(30.0)
    closure = round(27.0 * RATE)
    samples[closure : closure + 320] = 0.0
    pause = round(22.0 * RATE)
    samples[pause : pause + 300 * 16] *= 0.1

    cut = quietest_cut(samples)

    assert pause <= cut <= pause + 300 * 16


def test_silence_keeps_the_window_whole() -> None:
    assert quietest_cut(np.zeros(20 * RATE, dtype=np.float32)) == 20 * RATE


def test_a_short_window_is_searched_in_its_last_half_only() -> None:
    samples = loud(4.0)
    samples[RATE : RATE + 320] = 0.0  # at 1 s: in the first half, never chosen

    cut = quietest_cut(samples)

    assert cut >= 2 * RATE


def test_windows_are_recut_at_pauses_and_cover_the_audio_once_in_order() -> None:
    samples = loud(70.0)
    pauses = [27.0, 55.3]  # 300 ms pauses before each 30 s boundary
    for at in pauses:
        start = round(at * RATE)
        samples[start : start + 300 * 16] = 0.0
    windows = list(quiet_cut(split(samples, 30.0)))

    assert len(windows) == 3
    np.testing.assert_array_equal(np.concatenate([w.samples for w in windows]), samples)
    ends = [w.offset_seconds + w.duration_seconds for w in windows]
    # Each window but the last ends inside its pause.
    assert 27.0 < ends[0] < 27.3
    assert 55.3 < ends[1] < 55.6
    assert ends[2] == 70.0
    assert [w.offset_seconds for w in windows[1:]] == ends[:2]
    # No window is longer than the configured one plus the carried part (at most 10 s).
    assert max(w.duration_seconds for w in windows) <= 40.0


def test_one_window_is_left_alone() -> None:
    samples = loud(12.0)

    (window,) = quiet_cut(split(samples, 30.0))

    assert window.offset_seconds == 0.0
    np.testing.assert_array_equal(window.samples, samples)
