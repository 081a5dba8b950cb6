"""Moved to ``pegasus_testkit.audio`` (tools share it); new code imports it from there."""

from pegasus_testkit.audio import (
    FORMATS,
    encode_wav,
    espeak_ng,
    make_long_recording,
    make_video_without_audio,
    read_wav_16k_mono,
    synthesize_speech,
    truncate_file,
)

__all__ = [
    "FORMATS",
    "encode_wav",
    "espeak_ng",
    "make_long_recording",
    "make_video_without_audio",
    "read_wav_16k_mono",
    "synthesize_speech",
    "truncate_file",
]
