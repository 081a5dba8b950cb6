"""Quiz: multiple-choice questions built from the lecture's own definitions and terms.

Three kinds, best-ranked terms first:

- ``term``: "Which term describes: <definition>?"; the options are key terms;
- ``definition``: "Which of these describes <term>?"; the options are definitions (every
  other question, when three other terms have definitions to offer);
- ``gap``: for a term the lecture uses but never defines, a key sentence with the term
  blanked; the options are key terms.

Distractors are the lecture's other key terms (or their definitions): never one that shares
a word with the answer or appears in the question, preferring terms from the same chapter
and of similar length. Options are shuffled by a generator seeded with the item's id, so the
same lecture always gives the same quiz.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pegasus.studykit.chapters import Part
from pegasus.studykit.flashcards import best_cloze, worth_a_gap
from pegasus.studykit.ids import stable_id
from pegasus.studykit.schemas import KeyTerm, QuizItem, Span
from pegasus.studykit.spans import SourceText
from pegasus.studykit.text import TermKey, TimedSentence, normalize, term_key, tokenize

DISTRACTORS = 3
SAME_CHAPTER_WEIGHT = 1.0
SAME_WORD_COUNT_WEIGHT = 0.5
RANK_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class _Term:
    entry: KeyTerm
    key: TermKey
    chapter: int


def make_quiz(
    sentences: Sequence[TimedSentence],
    terms: Sequence[KeyTerm],
    parts: Sequence[Part],
    source: SourceText,
    count: int,
) -> list[QuizItem]:
    """Up to ``count`` questions, each with one correct option and three distractors."""
    if count <= 0 or len(terms) <= DISTRACTORS:
        return []
    pool = [_Term(t, term_key(t.term), _chapter_of(t, parts)) for t in terms if t.term.strip()]
    defined = [t for t in pool if t.entry.definition and t.entry.source is not None]
    items: list[QuizItem] = []
    for n, term in enumerate(defined):
        item = None
        if n % 2:
            item = _definition_item(term, pool)
        item = item or _term_item(term, pool)
        if item is not None:
            items.append(item)
    for term in pool:
        if term in defined or not worth_a_gap(term.entry):
            continue
        item = _gap_item(term, pool, sentences, source)
        if item is not None:
            items.append(item)
    asked: set[str] = set()
    unique: dict[str, QuizItem] = {}
    for item in items:
        question = " ".join(tokenize(item.question))
        if question in asked:
            continue  # two terms with one definition would ask the same question twice
        asked.add(question)
        unique.setdefault(item.id, item)
        if len(unique) == count:
            break
    return sorted(unique.values(), key=lambda q: (q.source.start, q.id))


def _term_item(term: _Term, pool: Sequence[_Term]) -> QuizItem | None:
    assert term.entry.source is not None
    question = f"Which term describes: {term.entry.definition.rstrip('.?!')}?"
    distractors = _distractors(term, pool, question)
    if len(distractors) < DISTRACTORS:
        return None
    return _item(
        "term",
        question,
        term.entry.term,
        [d.entry.term for d in distractors],
        term.entry.source,
        term.entry.term,
    )


def _definition_item(term: _Term, pool: Sequence[_Term]) -> QuizItem | None:
    assert term.entry.source is not None
    question = f"Which of these describes {term.entry.term}?"
    candidates = [
        t
        for t in pool
        if t.entry.definition
        and not _contains(_norms(t.entry.definition), term.key)
        and t.entry.definition.lower() != term.entry.definition.lower()
    ]
    distractors = _distractors(term, candidates, question)
    if len(distractors) < DISTRACTORS:
        return None
    return _item(
        "definition",
        question,
        term.entry.definition,
        [d.entry.definition for d in distractors],
        term.entry.source,
        term.entry.term,
    )


def _gap_item(
    term: _Term, pool: Sequence[_Term], sentences: Sequence[TimedSentence], source: SourceText
) -> QuizItem | None:
    cloze = best_cloze(sentences, term.entry, source)
    if cloze is None:
        return None
    question = f'Which term fills the gap? "{cloze.front}"'
    distractors = _distractors(term, pool, question)
    if len(distractors) < DISTRACTORS:
        return None
    return _item(
        "gap",
        question,
        term.entry.term,
        [d.entry.term for d in distractors],
        source.span(cloze.sentence),
        term.entry.term,
    )


def _item(
    kind: str, question: str, correct: str, wrong: Sequence[str], span: Span, term: str
) -> QuizItem | None:
    if len({option.strip().lower() for option in (correct, *wrong)}) != 1 + len(wrong):
        return None
    item_id = stable_id("quiz", kind, span.text, term)
    options = [correct, *wrong]
    random.Random(int(item_id, 16)).shuffle(options)  # nosec B311  # a stable order, no secret
    quoted = " ".join(span.text.split())
    return QuizItem(
        id=item_id,
        question=question,
        options=options,
        answer_index=options.index(correct),
        explanation=f'The lecture says: "{quoted}"',
        source=span,
    )


def _distractors(term: _Term, candidates: Sequence[_Term], question: str) -> list[_Term]:
    """Three other terms no one could take for ``term``, the most plausible first."""
    asked = _norms(question)
    words = set(term.key)
    ranked = sorted(
        (
            c
            for c in candidates
            if c.key != term.key and not words & set(c.key) and not _contains(asked, c.key)
        ),
        key=_plausibility(term),
    )
    chosen: list[_Term] = []
    for candidate in ranked:
        if any(set(candidate.key) & set(c.key) for c in chosen):
            continue
        chosen.append(candidate)
        if len(chosen) == DISTRACTORS:
            break
    return chosen


def _plausibility(term: _Term) -> Callable[[_Term], tuple[float, str]]:
    length = len(term.entry.term)

    def order(candidate: _Term) -> tuple[float, str]:
        other = len(candidate.entry.term)
        score = 1 - abs(length - other) / max(length, other, 1)
        if candidate.chapter == term.chapter:
            score += SAME_CHAPTER_WEIGHT
        if len(candidate.key) == len(term.key):
            score += SAME_WORD_COUNT_WEIGHT
        score += RANK_WEIGHT * candidate.entry.score
        return -score, candidate.entry.term.lower()

    return order


def _chapter_of(term: KeyTerm, parts: Sequence[Part]) -> int:
    at = term.source.start if term.source is not None else term.first_start
    return next((p.index for p in parts if p.holds(at)), len(parts) - 1 if parts else 0)


def _norms(text: str) -> list[str]:
    return [normalize(t) for t in tokenize(text)]


def _contains(norms: Sequence[str], key: TermKey) -> bool:
    size = len(key)
    return any(tuple(norms[i : i + size]) == key for i in range(len(norms) - size + 1))
