"""Chapters: the lecture's timeline cut where the topic changes.

Lexical cohesion in the manner of TextTiling (Hearst, 1997): each gap between two sentences
is scored by how little the vocabulary of the sentences before it shares with the sentences
after it (IDF-weighted cosine of content-word counts, smoothed), as a *depth*: how far the
similarity dips below the peaks on either side. Cue phrases that open a new part ("next",
"now let's", "moving on", "finally", "to summarise") add to the depth of the gap they start.
The deepest gaps become boundaries as long as every chapter lasts at least ``MIN_SECONDS``
and ``MIN_SENTENCES``; long lectures get about one chapter per 3-8 minutes of speech, short
ones only where the topic clearly shifts.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pegasus.studykit.schemas import Chapter, KeyTerm
from pegasus.studykit.text import (
    TimedSentence,
    find_term,
    is_content_word,
    term_key,
    title_case,
    word_set,
)

MIN_SECONDS = 45.0
MIN_SENTENCES = 5
#: Sentences compared on each side of a gap.
WINDOW = 5
#: Long lectures: at most one chapter per this much speech, at least one per ``MAX_...``.
MIN_AVERAGE_SECONDS = 180.0
MAX_AVERAGE_SECONDS = 480.0
#: Short lectures may still have this many chapters when their topic shifts.
SHORT_LECTURE_CHAPTERS = 4
#: A gap is a boundary when its depth is this many standard deviations above the mean.
DEPTH_CUTOFF_SD = 0.5
#: ...and at least this deep: a lecture that never changes topic stays one chapter.
MIN_BOUNDARY_SCORE = 0.1
CUE_BONUS = 0.25
WEAK_CUE_BONUS = 0.1
MAX_TITLE_WORDS = 5
#: A second term joins the title when it is nearly as characteristic as the first.
PAIR_SALIENCE = 0.5

_OPENING_FILLERS = word_set("okay ok so alright right well and um uh")
_CUES: tuple[tuple[str, ...], ...] = tuple(
    tuple(cue.split())
    for cue in (
        "next",
        "now let's",
        "now let us",
        "let's now",
        "let us now",
        "moving on",
        "let's move on",
        "let's turn",
        "turning to",
        "we now turn",
        "let's talk about",
        "let's look at",
        "let's switch",
        "the next topic",
        "our next topic",
        "another important topic",
        "in the second part",
        "in the third part",
        "in the next part",
        "in the last part",
        "in the final part",
        "part two",
        "part three",
        "finally",
        "to summarise",
        "to summarize",
        "in summary",
        "to sum up",
        "to conclude",
        "in conclusion",
        "let's recap",
    )
)
_WEAK_CUES: tuple[tuple[str, ...], ...] = (("now",), ("so", "now"))


@dataclass(frozen=True, slots=True)
class Part:
    """A chapter and the sentences in it: ``first`` up to, not including, ``stop``."""

    index: int
    first: int
    stop: int
    start: float
    end: float
    title: str

    def chapter(self) -> Chapter:
        return Chapter(index=self.index, title=self.title, start=self.start, end=self.end)

    def holds(self, seconds: float) -> bool:
        return self.start <= seconds < self.end


def segment(
    sentences: Sequence[TimedSentence], end_time: float, terms: Sequence[KeyTerm]
) -> list[Part]:
    """Contiguous parts from 0 to ``end_time`` (the recording's end; the last word's when
    unknown) covering every sentence, titled."""
    if not sentences:
        return []
    end_time = end_time if end_time > 0 else sentences[-1].end
    if end_time <= 0:
        return []
    boundaries = _boundaries(sentences, end_time)
    cuts = [0, *boundaries, len(sentences)]
    times = [0.0, *(_gap_time(sentences, g) for g in boundaries), end_time]
    ranges = list(itertools.pairwise(cuts))
    titles = _titles(sentences, ranges, terms)
    return [
        Part(index=i, first=a, stop=b, start=times[i], end=times[i + 1], title=titles[i])
        for i, (a, b) in enumerate(ranges)
    ]


def cue_strength(sentence: TimedSentence) -> float:
    """How strongly the sentence's opening announces a new part: 1, 0.4 or 0."""
    lowers = [w.lower for w in sentence.words]
    start = 0
    while start < len(lowers) and lowers[start] in _OPENING_FILLERS:
        start += 1
    opening = tuple(lowers[start : start + 5])
    if any(opening[: len(cue)] == cue for cue in _CUES):
        return 1.0
    if any(tuple(lowers[: len(cue)]) == cue for cue in _WEAK_CUES):
        return WEAK_CUE_BONUS / CUE_BONUS
    return 0.0


def _boundaries(sentences: Sequence[TimedSentence], end_time: float) -> list[int]:
    """Indexes of the sentences that open a new chapter (never 0), in order."""
    n = len(sentences)
    if n < 2 * MIN_SENTENCES:
        return []
    speech = sentences[-1].end - sentences[0].start
    most = max(
        math.floor(speech / MIN_AVERAGE_SECONDS),
        min(SHORT_LECTURE_CHAPTERS, math.floor(speech / MIN_SECONDS)),
    )
    least = max(1, math.floor(speech / MAX_AVERAGE_SECONDS))
    scores = _gap_scores(sentences)
    cutoff = statistics.fmean(scores.values()) + DEPTH_CUTOFF_SD * statistics.pstdev(
        scores.values()
    )
    chosen: list[int] = []
    for gap in sorted(scores, key=lambda g: (-scores[g], g)):
        if len(chosen) + 1 >= most:
            break
        if scores[gap] < max(cutoff, MIN_BOUNDARY_SCORE) and len(chosen) + 1 >= least:
            break
        if _fits(sentences, end_time, sorted([*chosen, gap]), gap):
            chosen.append(gap)
    return sorted(chosen)


def _gap_scores(sentences: Sequence[TimedSentence]) -> dict[int, float]:
    """Gap g (before sentence g) -> depth of the cohesion dip there, plus any cue bonus."""
    bags = [Counter(w.norm for w in s.words if is_content_word(w.lower)) for s in sentences]
    df = Counter(t for bag in bags for t in bag)
    n = len(sentences)
    idf = {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items()}
    gaps = list(range(1, n))
    raw = [
        _cosine(_block(bags, g - WINDOW, g, idf), _block(bags, g, g + WINDOW, idf)) for g in gaps
    ]
    similarity = [
        (raw[max(i - 1, 0)] + 2 * raw[i] + raw[min(i + 1, len(raw) - 1)]) / 4
        for i in range(len(raw))
    ]
    scores = {}
    for i, gap in enumerate(gaps):
        left = similarity[i]
        for j in range(i - 1, -1, -1):
            if similarity[j] < left:
                break
            left = similarity[j]
        right = similarity[i]
        for j in range(i + 1, len(similarity)):
            if similarity[j] < right:
                break
            right = similarity[j]
        depth = (left - similarity[i]) + (right - similarity[i])
        scores[gap] = depth + CUE_BONUS * cue_strength(sentences[gap])
    return scores


def _block(
    bags: Sequence[Counter[str]], start: int, stop: int, idf: dict[str, float]
) -> dict[str, float]:
    total: Counter[str] = Counter()
    for bag in bags[max(start, 0) : stop]:
        total.update(bag)
    return {t: c * idf[t] for t, c in total.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(w * b[t] for t, w in a.items() if t in b)
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def _fits(
    sentences: Sequence[TimedSentence], end_time: float, cuts: Sequence[int], gap: int
) -> bool:
    """Whether the two chapters either side of ``gap`` are long enough."""
    position = cuts.index(gap)
    left = cuts[position - 1] if position else 0
    right = cuts[position + 1] if position + 1 < len(cuts) else len(sentences)
    if gap - left < MIN_SENTENCES or right - gap < MIN_SENTENCES:
        return False
    left_time = _gap_time(sentences, left) if left else 0.0
    right_time = _gap_time(sentences, right) if right < len(sentences) else end_time
    here = _gap_time(sentences, gap)
    return here - left_time >= MIN_SECONDS and right_time - here >= MIN_SECONDS


def _gap_time(sentences: Sequence[TimedSentence], gap: int) -> float:
    """When the chapter opened by sentence ``gap`` starts: midway through the pause before."""
    return round((sentences[gap - 1].end + sentences[gap].start) / 2, 3)


def _titles(
    sentences: Sequence[TimedSentence],
    ranges: Sequence[tuple[int, int]],
    terms: Sequence[KeyTerm],
) -> list[str]:
    """A short, distinct Title Case title per range: its most characteristic key terms."""
    counts: dict[str, list[int]] = {}  # term -> occurrences per range
    for term in terms:
        key = term_key(term.term)
        counts[term.term] = [
            sum(len(find_term(sentences[s], key)) for s in range(a, b)) for a, b in ranges
        ]
    titles: list[str] = []
    for r, (a, b) in enumerate(ranges):
        ranked = sorted(
            (
                (_salience(per_range[r], sum(per_range), term), term)
                for term, per_range in counts.items()
                if per_range[r]
            ),
            key=lambda item: (-item[0], item[1]),
        )
        candidates = [term for _, term in ranked]
        if (
            len(ranked) >= 2
            and ranked[1][0] >= PAIR_SALIENCE * ranked[0][0]
            and not set(term_key(ranked[0][1])) & set(term_key(ranked[1][1]))
        ):
            pair = f"{ranked[0][1]} and {ranked[1][1]}"
            if len(pair.split()) <= MAX_TITLE_WORDS:
                candidates.insert(0, pair)
        candidates.extend(_frequent_words(sentences, a, b))
        used = {t.lower() for t in titles}
        title = next(
            (title_case(c) for c in candidates if title_case(c).lower() not in used),
            f"Part {r + 1}",
        )
        titles.append(title)
    return titles


def _salience(here: int, total: int, term: str) -> float:
    """How much a term belongs to one range: said often there, and mostly there."""
    if not total:
        return 0.0
    return here * (here / total) * (1 + 0.5 * (len(term.split()) - 1))


def _frequent_words(sentences: Sequence[TimedSentence], a: int, b: int) -> list[str]:
    """The range's content words said at least twice, most frequent first (as spelled)."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for sentence in sentences[a:b]:
        for word in sentence.words:
            if is_content_word(word.lower) and len(word.lower) > 3:
                counts[word.norm] += 1
                spelling.setdefault(word.norm, word.lower)
    return [spelling[w] for w, c in sorted(counts.items(), key=lambda i: (-i[1], i[0])) if c >= 2]
