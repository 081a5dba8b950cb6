"""The fixture lectures: what they say, and the recordings made from them once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pegasus_testkit.audio import make_long_recording, synthesize_speech, truncate_file

#: What the fixture lecture says; tests look for these words in transcripts and exports.
SPOKEN_TEXT = (
    "Photosynthesis converts light energy into chemical energy. "
    "Chlorophyll is the green pigment that absorbs sunlight in the leaves. "
    "The Calvin cycle uses carbon dioxide to build sugar."
)
SPOKEN_WORDS = ("photosynthesis", "energy", "chlorophyll", "pigment", "sugar")

#: A longer lecture with definitions, for the study kit (flashcards, quiz, chapters).
RICH_TEXT = (
    "Today we study how plants make food. Photosynthesis is the process that turns light "
    "energy into chemical energy. Chlorophyll is the green pigment that absorbs light. "
    "Chloroplasts are the organelles where photosynthesis happens. Chlorophyll sits inside "
    "the chloroplasts, and photosynthesis needs chlorophyll to capture light. "
    "Now let's move on to the second part, the light reactions. The thylakoid is a membrane "
    "sac inside the chloroplast. The light reactions happen in the thylakoid membrane and "
    "they split water to release oxygen. ATP is the molecule that stores energy for the cell. "
    "The light reactions make ATP, and ATP carries energy to the next stage. "
    "Finally, the third part is the Calvin cycle. The Calvin cycle is the set of reactions "
    "that builds sugar from carbon dioxide. The stroma is the fluid around the thylakoids. "
    "The Calvin cycle runs in the stroma and it uses ATP from the light reactions. "
    "Stomata are small pores in the leaf that let carbon dioxide in. Without stomata the "
    "Calvin cycle would run out of carbon dioxide."
)


@dataclass(frozen=True)
class Recordings:
    """Files made once per test session from synthesized speech."""

    lecture_m4a: Path
    lecture_wav: Path
    truncated_m4a: Path
    text_as_mp3: Path
    empty_m4a: Path
    long_wav: Path
    rich_m4a: Path


def make_recordings(root: Path) -> Recordings:
    """Synthesize every fixture recording into directory ``root``."""
    lecture_m4a = synthesize_speech(SPOKEN_TEXT, root / "lecture.m4a", fmt="m4a")
    lecture_wav = synthesize_speech(SPOKEN_TEXT, root / "lecture.wav", fmt="wav")
    text = root / "notes.mp3"
    text.write_text("These are my notes, not a recording.\n" * 20, encoding="utf-8")
    empty = root / "empty.m4a"
    empty.write_bytes(b"")
    return Recordings(
        lecture_m4a=lecture_m4a,
        lecture_wav=lecture_wav,
        truncated_m4a=truncate_file(lecture_m4a, root / "truncated.m4a", 0.5),
        text_as_mp3=text,
        empty_m4a=empty,
        long_wav=make_long_recording(root / "long.wav", 150.0, SPOKEN_TEXT),
        rich_m4a=synthesize_speech(RICH_TEXT, root / "rich.m4a", fmt="m4a", wpm=165),
    )
