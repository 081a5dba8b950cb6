"""Captions: the transcript as SRT and WebVTT cues."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pegasus.transcription.schemas import Segment, Transcript

#: Longer cues are split at word boundaries: two lines of 42 characters, about 7 seconds.
MAX_CUE_SECONDS = 7.0
MAX_CUE_CHARS = 84
LINE_CHARS = 42
#: Every cue stays on screen at least this long (unless the next cue starts sooner).
MIN_CUE_MS = 200

_ATTACHING = ",.;:!?\u2026)]}\"'\u201d\u2019\u00bb%"
_CLOSERS = "\"')]}\u201d\u2019\u00bb"


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: times in milliseconds and its text on one line."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    start: float
    end: float


def build_cues(transcript: Transcript) -> list[Cue]:
    """The transcript's cues: one per segment, long ones split, times made sane."""
    raw: list[tuple[float, float, str]] = []
    for segment in transcript.segments:
        raw.extend(_segment_cues(segment))
    raw.sort(key=lambda cue: cue[0])  # stable: equal starts keep transcript order
    starts = [_ms(start) for start, _, _ in raw]
    cues = []
    for i, (_, end, text) in enumerate(raw):
        start_ms = starts[i]
        end_ms = max(_ms(end), start_ms + MIN_CUE_MS)
        # Never run into the next cue; a cue starting at the same instant cannot be avoided.
        if i + 1 < len(starts) and starts[i + 1] > start_ms:
            end_ms = min(end_ms, starts[i + 1])
        cues.append(Cue(start_ms, end_ms, text))
    return cues


def render_srt(transcript: Transcript) -> str:
    """SubRip: numbered cues from 1, ``HH:MM:SS,mmm`` times; empty for no speech."""
    blocks = [
        f"{n}\n{_timestamp(c.start_ms, ',')} --> {_timestamp(c.end_ms, ',')}\n"
        + "\n".join(_wrap(c.text.replace("-->", "->")))
        for n, c in enumerate(build_cues(transcript), start=1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def render_vtt(transcript: Transcript) -> str:
    """WebVTT: the ``WEBVTT`` header then cues with ``HH:MM:SS.mmm`` times."""
    blocks = [
        f"{_timestamp(c.start_ms, '.')} --> {_timestamp(c.end_ms, '.')}\n"
        + "\n".join(_wrap(_escape_vtt(c.text)))
        for c in build_cues(transcript)
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n" if blocks else "WEBVTT\n"


def _segment_cues(segment: Segment) -> list[tuple[float, float, str]]:
    text = " ".join(segment.text.split())
    if not text:
        return []
    start, end = segment.start, max(segment.end, segment.start)
    if end - start <= MAX_CUE_SECONDS and len(text) <= MAX_CUE_CHARS:
        return [(start, end, text)]
    units = [_Unit(w.word.strip(), w.start, max(w.end, w.start)) for w in segment.words]
    units = [u for u in units if u.text] or _proportional_units(text, start, end)
    return [
        (group[0].start, group[-1].end, _join(u.text for u in group)) for group in _split(units)
    ]


def _proportional_units(text: str, start: float, end: float) -> list[_Unit]:
    """Words without timestamps get times in proportion to their position in the text."""
    units = []
    offset = 0
    for word in text.split(" "):
        units.append(
            _Unit(
                word,
                start + (end - start) * offset / len(text),
                start + (end - start) * (offset + len(word)) / len(text),
            )
        )
        offset += len(word) + 1
    return units


def _split(units: Sequence[_Unit]) -> list[list[_Unit]]:
    """The fewest groups that each fit in a cue (a single word always fits); among those,
    groups of even size cut at sentence or clause ends where possible."""
    texts = [u.text for u in units]
    chars = len(_join(texts))
    seconds = units[-1].end - units[0].start
    # Balance on whichever limit binds harder: characters, or time.
    if chars / MAX_CUE_CHARS >= seconds / MAX_CUE_SECONDS:
        positions, total = [float(p) for p in _char_offsets(texts)], float(chars)
    else:
        positions, total = [u.start - units[0].start for u in units], seconds
    groups_needed = max(math.ceil(chars / MAX_CUE_CHARS), math.ceil(seconds / MAX_CUE_SECONDS), 1)
    share = total / groups_needed or 1.0

    # best[j]: (groups, cost) of the best split of units[:j]; compared groups first.
    best: list[tuple[int, float]] = [(0, 0.0)]
    back: list[int] = [0]
    for j in range(1, len(units) + 1):
        options = []
        for i in range(j - 1, -1, -1):
            if i < j - 1 and not _fits(units[i:j]):
                break  # a longer group cannot fit either
            size = (positions[j] if j < len(units) else total) - positions[i]
            cost = ((size - share) / share) ** 2 + (_cut_penalty(units[i - 1].text) if i else 0)
            options.append(((best[i][0] + 1, best[i][1] + cost), i))
        score, i = min(options)
        best.append(score)
        back.append(i)
    groups = []
    j = len(units)
    while j > 0:
        groups.append(list(units[back[j] : j]))
        j = back[j]
    return groups[::-1]


def _cut_penalty(previous_word: str) -> float:
    """How badly a cue break after this word reads: none after a sentence, some mid-clause."""
    last = previous_word.rstrip(_CLOSERS)[-1:]
    if last in (".", "!", "?", "\u2026"):
        return 0.0
    return 0.2 if last in (",", ";", ":") else 0.6


def _fits(group: Sequence[_Unit]) -> bool:
    if len(group) == 1:
        return True
    seconds = group[-1].end - group[0].start
    return len(_join(u.text for u in group)) <= MAX_CUE_CHARS and seconds <= MAX_CUE_SECONDS


def _char_offsets(texts: Sequence[str]) -> list[int]:
    offsets = []
    position = 0
    for text in texts:
        offsets.append(position)
        position += len(text) + 1
    return offsets


def _join(tokens: Iterable[str]) -> str:
    out = ""
    for token in tokens:
        if out and all(c in _ATTACHING for c in token):
            out += token
        else:
            out = f"{out} {token}" if out else token
    return out


def _wrap(text: str) -> list[str]:
    """At most two lines: a long cue is broken at the space nearest its middle."""
    if len(text) <= LINE_CHARS or " " not in text:
        return [text]
    middle = len(text) / 2
    spaces = [i for i, c in enumerate(text) if c == " "]
    cut = min(spaces, key=lambda i: abs(i - middle))
    return [text[:cut], text[cut + 1 :]]


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"
