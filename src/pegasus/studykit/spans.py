"""Source spans: the verbatim transcript text, with its times, that an item comes from.

Sentences are rebuilt from word tokens, so their text may differ from the stored segment
text in spacing. ``SourceText`` finds each sentence in ``Transcript.text`` (the segments
joined by single spaces) and quotes that, so a span's text is always a substring of the
transcript, whatever the recogniser did.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pegasus.studykit.schemas import Span
from pegasus.studykit.text import TimedSentence
from pegasus.transcription.schemas import Transcript


class SourceText:
    """The transcript's text and where each of its sentences lies in it."""

    def __init__(self, transcript: Transcript, sentences: Sequence[TimedSentence]) -> None:
        self.text = transcript.text
        self.sentences = sentences
        self._segments = _segment_ranges(transcript)
        # Spans stay inside the recording; word times past its stated end (a recogniser's
        # rounding) are clamped. Without a stated duration, the last word ends it.
        last_word = max((s.end for s in sentences), default=0.0)
        self.end_limit = transcript.duration_seconds or last_word
        self._ranges: list[tuple[int, int]] = []
        cursor = 0
        for sentence in sentences:
            found = self._locate(sentence, cursor)
            self._ranges.append(found)
            cursor = max(cursor, found[1])

    def quotable(self, index: int) -> bool:
        """Whether sentence ``index`` has transcript text to quote."""
        start_char, end_char = self._ranges[index]
        return end_char > start_char

    def span(self, first: int, last: int | None = None) -> Span:
        """The span of sentences ``first`` to ``last`` (inclusive; ``first`` alone by default)."""
        last = first if last is None else last
        start_char, _ = self._ranges[first]
        _, end_char = self._ranges[last]
        if end_char <= start_char:  # out-of-order fallbacks: quote the last sentence alone
            first = last
            start_char, end_char = self._ranges[last]
        start = self.sentences[first].start
        end = min(max(self.sentences[last].end, start), self.end_limit)
        return Span(start=min(start, end), end=end, text=self.text[start_char:end_char])

    def _locate(self, sentence: TimedSentence, cursor: int) -> tuple[int, int]:
        for origin in (cursor, 0):
            found = self.text.find(sentence.text, origin)
            if found >= 0:
                return found, found + len(sentence.text)
        # The same words with other punctuation or spacing between them.
        if sentence.words:
            pattern = r"\W*".join(re.escape(w.text) for w in sentence.words)
            for origin in (cursor, 0):
                match = re.compile(pattern).search(self.text, origin)
                if match:
                    return match.start(), match.end()
        return self._segment_fallback(sentence)

    def _segment_fallback(self, sentence: TimedSentence) -> tuple[int, int]:
        """The whole segments said while the sentence was: verbatim, if wider."""
        overlapping = [
            (a, b)
            for a, b, start, end in self._segments
            if start <= sentence.end and end >= sentence.start
        ]
        if not overlapping and self._segments:
            nearest = min(self._segments, key=lambda r: abs(r[2] - sentence.start))
            overlapping = [nearest[:2]]
        if not overlapping:  # word times without segment text: nothing to quote
            return 0, 0
        return overlapping[0][0], overlapping[-1][1]


def _segment_ranges(transcript: Transcript) -> list[tuple[int, int, float, float]]:
    """Each non-empty segment's character range in ``transcript.text`` and its times."""
    ranges = []
    offset = 0
    for segment in transcript.segments:
        text = segment.text.strip()
        if not text:
            continue
        ranges.append((offset, offset + len(text), segment.start, segment.end))
        offset += len(text) + 1
    return ranges
