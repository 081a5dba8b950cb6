"""How long processing roughly takes, for the preset cards: derived from measured figures.

Transcription dominates. docs/benchmarks.md (2 vCPUs, default settings, current code):
a 1800 s lecture took 68.9 s wall for transcode + model load + transcription. The offline
study-kit generator and the exports were timed on a 1-hour synthetic transcript (832
segments, 8,892 words) on the same VM: 0.1-1.2 s to generate and 0.2-1.6 s to write every
export, depending on the preset; a per-part allowance covers them. These figures are for an
idle server: lectures waiting in the queue come first.
"""

from __future__ import annotations

import math

from pegasus.presets import Preset

#: docs/benchmarks.md, "defaults, batch 4, timestamp tokens (current)": 68.9 s per 1800 s.
TRANSCRIBE_SECONDS_PER_AUDIO_SECOND = 68.9 / 1800
#: Generous allowance per study-kit part and per export for a 1-hour lecture (measured
#: totals above: at most 1.2 s for six parts, 1.6 s for seven exports).
SECONDS_PER_KIT_PART_PER_HOUR = 1.0
SECONDS_PER_EXPORT_PER_HOUR = 0.5


def processing_seconds(preset: Preset, audio_seconds: float = 3600.0) -> float:
    """Estimated processing time of ``audio_seconds`` of audio with ``preset`` on an idle
    2-core server using the offline generator."""
    hours = audio_seconds / 3600
    parts = len([o for o in preset.outputs if o != "transcript"])
    return (
        audio_seconds * TRANSCRIBE_SECONDS_PER_AUDIO_SECOND
        + hours * parts * SECONDS_PER_KIT_PART_PER_HOUR
        + hours * len(preset.exports) * SECONDS_PER_EXPORT_PER_HOUR
    )


def processing_sentence(preset: Preset, *, external_generator: bool = False) -> str:
    """E.g. "About 3 minutes for a 1-hour lecture." (rounded up to whole minutes)."""
    minutes = max(1, math.ceil(processing_seconds(preset) / 60))
    unit = "minute" if minutes == 1 else "minutes"
    sentence = f"About {minutes} {unit} for a 1-hour lecture"
    if external_generator and len(preset.outputs) > 1:
        sentence += ", plus the time the study-kit service takes to answer"
    return sentence + "."
