"""Extractive summary: the lecture's most representative sentences, in the order said."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from pegasus.studykit.key_terms import sentence_defines_term
from pegasus.studykit.schemas import SummarySentence
from pegasus.studykit.text import TimedSentence, is_content_word

#: Sentences shorter than this ("Okay, let's start.") are not summary material.
MIN_WORDS = 6
MIN_CONTENT_WORDS = 3
#: Sentences sharing this much vocabulary with a chosen one are near-duplicates.
MAX_JACCARD = 0.6
MAX_OVERLAP = 0.8
POSITION_BONUS = 0.1
DEFINITION_BONUS = 0.15


def summarize(sentences: Sequence[TimedSentence], count: int) -> list[SummarySentence]:
    """The ``count`` best-scoring sentences, no near-duplicates, in time order."""
    if count <= 0 or not sentences:
        return []
    content = [[w.norm for w in s.words if is_content_word(w.lower)] for s in sentences]
    weights = _term_weights(content)
    pool = [
        i
        for i, s in enumerate(sentences)
        if len(s.words) >= MIN_WORDS and len(set(content[i])) >= MIN_CONTENT_WORDS
    ]
    if not pool:  # a very short transcript: any sentence that says something will do
        pool = [i for i in range(len(sentences)) if content[i]]
    last = max(len(sentences) - 1, 1)
    scores = {}
    for i in pool:
        terms = set(content[i])
        score = sum(weights[t] for t in terms) / math.sqrt(len(content[i]))
        score *= 1 + POSITION_BONUS * (1 - i / last)
        if sentence_defines_term(sentences[i]):
            score *= 1 + DEFINITION_BONUS
        scores[i] = score

    chosen: list[int] = []
    for i in sorted(pool, key=lambda i: (-scores[i], i)):
        if len(chosen) == count:
            break
        if any(_near_duplicate(set(content[i]), set(content[j])) for j in chosen):
            continue
        chosen.append(i)
    return [
        SummarySentence(text=sentences[i].text, start=sentences[i].start, end=sentences[i].end)
        for i in sorted(chosen, key=lambda i: (sentences[i].start, i))
    ]


def _term_weights(content: Sequence[Sequence[str]]) -> dict[str, float]:
    """TF-IDF-like weights with sentences as documents, scaled so the largest is 1."""
    tf = Counter(t for terms in content for t in terms)
    df = Counter(t for terms in content for t in set(terms))
    n = len(content)
    raw = {t: tf[t] * (math.log((n + 1) / (df[t] + 1)) + 1) for t in tf}
    top = max(raw.values(), default=1.0)
    return {t: w / top for t, w in raw.items()}


def _near_duplicate(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return False
    shared = len(a & b)
    return shared / len(a | b) >= MAX_JACCARD or shared / min(len(a), len(b)) >= MAX_OVERLAP
