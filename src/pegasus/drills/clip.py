"""The bundled lecture clip: about 16 s of synthesized English speech (Ogg/Opus, 16 kHz mono,
~43 KB), package data read with importlib.resources. The drills seed staging targets with
it; the canary can send it too.

Made once with espeak-ng (voice en-us, 150 words a minute) speaking ``CLIP_TEXT`` and encoded
with PyAV's libopus at 24 kbit/s; the tiny.en model transcribes it word for word."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

CLIP_NAME = "clip.ogg"
CLIP_CONTENT_TYPE = "audio/ogg"
#: What the clip says.
CLIP_TEXT = (
    "Welcome to today's lecture on photosynthesis. Plants convert light energy into chemical "
    "energy. Chlorophyll is the green pigment that absorbs sunlight in the leaves. "
    "The Calvin cycle uses carbon dioxide to build sugar in the stroma."
)
#: Words a correct transcript of the clip holds (lower case); checks look for them.
CLIP_WORDS = ("photosynthesis", "chlorophyll", "energy", "sugar")


def clip_bytes() -> bytes:
    """The clip's bytes."""
    return resources.files("pegasus.drills").joinpath(CLIP_NAME).read_bytes()


@contextlib.contextmanager
def clip_path() -> Iterator[Path]:
    """A real file holding the clip for the ``with`` block (a temporary copy when the
    package is zipped)."""
    with resources.as_file(resources.files("pegasus.drills").joinpath(CLIP_NAME)) as path:
        yield path


def missing_words(text: str) -> list[str]:
    """The ``CLIP_WORDS`` that ``text`` (a transcript) does not contain."""
    lowered = text.lower()
    return [word for word in CLIP_WORDS if word not in lowered]
