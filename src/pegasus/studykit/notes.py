"""Notes: an outline with one section per chapter and its most informative sentences."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from pegasus.studykit.chapters import Part
from pegasus.studykit.key_terms import sentence_defines_term
from pegasus.studykit.schemas import KeyTerm, NoteBullet, NoteSection
from pegasus.studykit.spans import SourceText
from pegasus.studykit.text import (
    TimedSentence,
    find_term,
    is_content_word,
    strip_fillers,
    term_key,
)

MIN_WORDS = 6
MIN_CONTENT_WORDS = 3
#: One bullet per this many sentences of a chapter, within the bounds below.
SENTENCES_PER_BULLET = 4
MIN_BULLETS = 1
MAX_BULLETS = 6
DEFINITION_BONUS = 0.3
TERM_BONUS = 0.15
MAX_OVERLAP = 0.7


def write_notes(
    sentences: Sequence[TimedSentence],
    parts: Sequence[Part],
    terms: Sequence[KeyTerm],
    source: SourceText,
) -> list[NoteSection]:
    """One section per part, headed by its title, with bullets in the order said."""
    content = [{w.norm for w in s.words if is_content_word(w.lower)} for s in sentences]
    weights = _weights(content)
    keys = [term_key(t.term) for t in terms]
    sections = []
    for part in parts:
        indexes = range(part.first, part.stop)
        pool = [
            i
            for i in indexes
            if source.quotable(i)
            and len(sentences[i].words) >= MIN_WORDS
            and len(content[i]) >= MIN_CONTENT_WORDS
            and not sentences[i].text.rstrip().endswith("?")
        ]
        if not pool:
            pool = [i for i in indexes if source.quotable(i) and content[i]]
        scores = {i: _score(sentences[i], content[i], weights, keys) for i in pool}
        wanted = min(MAX_BULLETS, max(MIN_BULLETS, math.ceil(len(indexes) / SENTENCES_PER_BULLET)))
        chosen: list[int] = []
        for i in sorted(pool, key=lambda i: (-scores[i], i)):
            if len(chosen) == wanted:
                break
            if any(_overlaps(content[i], content[j]) for j in chosen):
                continue
            chosen.append(i)
        bullets = [
            NoteBullet(text=strip_fillers(sentences[i].text), source=source.span(i))
            for i in sorted(chosen)
        ]
        sections.append(NoteSection(chapter=part.index, heading=part.title, bullets=bullets))
    return sections


def _weights(content: Sequence[set[str]]) -> dict[str, float]:
    df = Counter(t for terms in content for t in terms)
    n = len(content)
    return {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items()}


def _score(
    sentence: TimedSentence,
    content: set[str],
    weights: dict[str, float],
    keys: Sequence[tuple[str, ...]],
) -> float:
    score = sum(weights[t] for t in content) / math.sqrt(max(len(sentence.words), 1))
    if sentence_defines_term(sentence):
        score *= 1 + DEFINITION_BONUS
    mentioned = sum(1 for key in keys if find_term(sentence, key))
    return score * (1 + TERM_BONUS * min(mentioned, 3))


def _overlaps(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= MAX_OVERLAP
