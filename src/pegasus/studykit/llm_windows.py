"""The transcript as the model sees it: windows of timed lines, and cited times mapped back
to verbatim transcript spans."""

from __future__ import annotations

import dataclasses
import math
import re

from pegasus.studykit.llm_prompts import format_line
from pegasus.studykit.schemas import Span
from pegasus.transcription.schemas import Segment, Transcript

#: A cited range must overlap a segment by more than this (seconds) to quote it; absorbs the
#: rounding of the times shown to the model.
OVERLAP_EPSILON = 0.05
#: The most consecutive segments one item's source quotes.
MAX_SPAN_SEGMENTS = 3


@dataclasses.dataclass(frozen=True)
class Window:
    """One map call's part of the lecture: ``lines`` cover [start, end)."""

    index: int
    start: float
    end: float
    lines: tuple[str, ...]


class Timeline:
    """The transcript's spoken segments, and how cited times map back to their text."""

    def __init__(self, transcript: Transcript) -> None:
        self.segments: list[Segment] = sorted(
            (s for s in transcript.segments if s.text.strip()), key=lambda s: (s.start, s.end)
        )
        last_end = max((s.end for s in self.segments), default=0.0)
        self.end = max(transcript.duration_seconds, last_end)
        self.text = transcript.text

    def span(self, start: float, end: float) -> Span | None:
        """The verbatim transcript span the cited range covers; None when it covers none."""
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            return None
        if start > self.end + OVERLAP_EPSILON:
            return None
        hits = [
            i
            for i, s in enumerate(self.segments)
            if min(s.end, end) - max(s.start, start) > OVERLAP_EPSILON
        ]
        if not hits:  # a point or a tiny range: the segment it lies in
            middle = (start + end) / 2
            hits = [
                i
                for i, s in enumerate(self.segments)
                if s.start - OVERLAP_EPSILON <= middle <= s.end + OVERLAP_EPSILON
            ][:1]
        if not hits:
            return None
        quoted = self.segments[hits[0] : min(hits[-1], hits[0] + MAX_SPAN_SEGMENTS - 1) + 1]
        return Span(
            start=quoted[0].start,
            end=quoted[-1].end,
            text=" ".join(s.text.strip() for s in quoted),
        )

    def snap(self, time_: float, low: float, high: float) -> float:
        """``time_`` clamped to [low, high] and moved back to the start of its segment."""
        clamped = min(max(time_, low), high)
        for s in self.segments:
            if s.end > clamped:
                return max(s.start, low) if s.start <= clamped else clamped
        return clamped

    def occurrences(self, term: str) -> int:
        pattern = r"(?<!\w)" + re.escape(term.strip()) + r"(?!\w)"
        return len(re.findall(pattern, self.text, flags=re.IGNORECASE))

    def windows(self, window_seconds: float, budget: int) -> list[Window]:
        """Consecutive windows of at most ``window_seconds`` and ``budget`` line characters."""
        groups: list[list[str]] = []
        starts: list[float] = []
        used = 0
        for s in self.segments:
            line = format_line(s.start, s.end, s.text.strip())[:budget]
            anchor = starts[-1] if starts else 0.0
            fits = bool(groups) and used + len(line) + 1 <= budget
            if not groups or not fits or s.start >= anchor + window_seconds:
                groups.append([])
                starts.append(s.start if groups[:-1] else 0.0)
                used = 0
            groups[-1].append(line)
            used += len(line) + 1
        ends = [*starts[1:], self.end]
        return [
            Window(index=i, start=starts[i], end=ends[i], lines=tuple(lines))
            for i, lines in enumerate(groups)
        ]
