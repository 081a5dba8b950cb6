"""How long processing roughly takes, for the preset cards: derived from measured figures.

Transcription dominates. ``TRANSCRIBE_MINUTES_PER_HOUR`` holds, per speech model and mode,
the minutes one hour of lecture takes to transcode, load and transcribe on an idle 2-vCPU
server, rounded up (docs/benchmarks.md, "Transcription modes": tiny.en 2.1 and 3.7, base 4.8
and 5.5 minutes per hour in fast and accurate mode).
The offline study-kit generator and the exports were timed on a 1-hour synthetic transcript
(832 segments, 8,892 words) on the same VM: 0.1-1.2 s to generate and 0.2-1.6 s to write
every export, depending on the preset; a per-part allowance covers them. These figures are
for an idle server: lectures waiting in the queue come first.
"""

from __future__ import annotations

import math
from typing import Final

from pegasus.config import TranscriptionMode
from pegasus.presets import Preset

#: Minutes to transcribe one hour of lecture (transcode, model load, transcription), by
#: model and mode, on an idle 2-vCPU server. The one table of these figures.
TRANSCRIBE_MINUTES_PER_HOUR: Final[dict[tuple[str, TranscriptionMode], float]] = {
    ("tiny.en", "fast"): 3.0,
    ("tiny.en", "accurate"): 4.0,
    ("base", "fast"): 5.0,
    ("base", "accurate"): 6.0,
}
#: Generous allowance per study-kit part and per export for a 1-hour lecture (measured
#: totals above: at most 1.2 s for six parts, 1.6 s for seven exports).
SECONDS_PER_KIT_PART_PER_HOUR = 1.0
SECONDS_PER_EXPORT_PER_HOUR = 0.5

MODE_LABELS: Final[dict[TranscriptionMode, str]] = {
    "fast": "Fast transcription",
    "accurate": "Accurate transcription",
}
MODE_HINTS: Final[dict[TranscriptionMode, str]] = {
    "fast": "quicker, but may miss whole sentences",
    "accurate": "fewer missed words, takes a little longer",
}


def processing_seconds(
    preset: Preset, *, model: str, mode: TranscriptionMode, audio_seconds: float = 3600.0
) -> float | None:
    """Estimated processing time of ``audio_seconds`` of audio with ``preset``, transcribed
    by ``model`` in ``mode``, on an idle 2-core server using the offline generator; None for
    a model that was never measured (a model directory)."""
    minutes_per_hour = TRANSCRIBE_MINUTES_PER_HOUR.get((model, mode))
    if minutes_per_hour is None:
        return None
    hours = audio_seconds / 3600
    parts = len([o for o in preset.outputs if o != "transcript"])
    return (
        hours * minutes_per_hour * 60
        + hours * parts * SECONDS_PER_KIT_PART_PER_HOUR
        + hours * len(preset.exports) * SECONDS_PER_EXPORT_PER_HOUR
    )


def processing_sentence(
    preset: Preset, *, model: str, mode: TranscriptionMode, external_generator: bool = False
) -> str:
    """E.g. "About 4 minutes for a 1-hour lecture." (rounded up to whole minutes)."""
    seconds = processing_seconds(preset, model=model, mode=mode)
    if seconds is None:
        return "Processing time depends on this server's speech model."
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    sentence = f"About {minutes} {unit} for a 1-hour lecture"
    if external_generator and len(preset.outputs) > 1:
        sentence += ", plus the time the study-kit service takes to answer"
    return sentence + "."
