"""Flashcards: definition cards (term -> the lecturer's definition) and cloze cards (a key
sentence with the term blanked out -> the term).

A deck never asks the same thing twice in one kind of card: two terms explained by the same
words ("called the light reactions and the Calvin cycle", both defined by the sentence
before) give one definition card, and one sentence gives at most one cloze card."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pegasus.studykit.ids import stable_id
from pegasus.studykit.schemas import Flashcard, KeyTerm
from pegasus.studykit.spans import SourceText
from pegasus.studykit.text import (
    TermKey,
    TimedSentence,
    find_term,
    is_content_word,
    strip_fillers,
    term_key,
    word_offsets,
)

BLANK = "[...]"
#: Definition cards make up at least this share of a full deck, cloze cards the rest.
DEFINITION_SHARE = 0.6
MIN_CLOZE_WORDS = 6
#: Words a cloze sentence must keep besides the blank, so that it can be answered.
MIN_CLOZE_CONTENT_WORDS = 3
#: An undefined one-word term is blanked only when it ranks this high (relative score):
#: "photosynthesis" is worth a card, "water" said now and then is not.
MIN_SINGLE_WORD_SCORE = 0.5


@dataclass(frozen=True, slots=True)
class Cloze:
    """A sentence with a term blanked: the gapped text, the term as said, the sentence."""

    front: str
    answer: str
    sentence: int


def make_flashcards(
    sentences: Sequence[TimedSentence],
    terms: Sequence[KeyTerm],
    source: SourceText,
    count: int,
) -> list[Flashcard]:
    """Up to ``count`` cards for the best-ranked terms, in the order the lecture says them."""
    if count <= 0:
        return []
    definitions = []
    answers: set[TermKey] = set()
    for term in terms:
        if not term.definition or term.source is None:
            continue
        answer = term_key(term.definition)
        if answer in answers:
            continue  # the same words already answer another term's card
        answers.add(answer)
        definitions.append(
            Flashcard(
                id=stable_id("definition", term.source.text, term.term),
                kind="definition",
                front=term.term,
                back=term.definition,
                source=term.source,
            )
        )
    clozes = []
    used: set[int] = set()
    for term in terms:
        if not worth_a_gap(term):
            continue
        cloze = best_cloze(sentences, term, source, avoid=used)
        if cloze is None or cloze.sentence in used:
            continue  # one sentence, one cloze card
        used.add(cloze.sentence)
        span = source.span(cloze.sentence)
        clozes.append(
            Flashcard(
                id=stable_id("cloze", span.text, term.term),
                kind="cloze",
                front=cloze.front,
                back=cloze.answer,
                source=span,
            )
        )
    wanted_definitions = min(
        len(definitions), max(count - len(clozes), math.ceil(count * DEFINITION_SHARE))
    )
    chosen = definitions[:wanted_definitions] + clozes[: count - wanted_definitions]
    unique = {card.id: card for card in chosen}
    return sorted(unique.values(), key=lambda c: (c.source.start, c.kind, c.id))


def worth_a_gap(term: KeyTerm) -> bool:
    """Whether blanking ``term`` makes a question: it is defined, a phrase, or central."""
    if term.definition or len(term.term.split()) > 1:
        return True
    return term.score >= MIN_SINGLE_WORD_SCORE


def best_cloze(
    sentences: Sequence[TimedSentence],
    term: KeyTerm,
    source: SourceText,
    avoid: set[int] | None = None,
) -> Cloze | None:
    """The most informative sentence that says ``term``, with every mention of it blanked.

    Sentences in ``avoid`` and the one that defines the term are taken only when no other
    sentence will do.
    """
    key = term_key(term.term)
    avoid = avoid or set()
    best: tuple[float, int, Cloze] | None = None
    for i, sentence in enumerate(sentences):
        positions = find_term(sentence, key)
        if not positions or not source.quotable(i) or sentence.text.rstrip().endswith("?"):
            continue
        cloze = _blank(sentence, positions, len(key))
        if cloze is None:
            continue
        others = {
            w.norm
            for k, w in enumerate(sentence.words)
            if is_content_word(w.lower) and not any(p <= k < p + len(key) for p in positions)
        }
        if len(sentence.words) < MIN_CLOZE_WORDS or len(others) < MIN_CLOZE_CONTENT_WORDS:
            continue
        score = float(min(len(others), 12))
        if i in avoid:
            score -= 20
        if term.source is not None and sentence.start == term.source.start:
            score -= 10  # the definition card already asks this
        if best is None or score > best[0]:
            best = (score, i, cloze)
    return best[2] if best is not None else None


def _blank(sentence: TimedSentence, positions: Sequence[int], size: int) -> Cloze | None:
    offsets = word_offsets(sentence)
    if offsets is None:
        return None
    text = sentence.text
    pieces = []
    cursor = 0
    for p in positions:
        start, end = offsets[p][0], offsets[p + size - 1][1]
        pieces.append(text[cursor:start])
        pieces.append(BLANK)
        cursor = end
    pieces.append(text[cursor:])
    first = positions[0]
    answer = text[offsets[first][0] : offsets[first + size - 1][1]]
    return Cloze(front=strip_fillers("".join(pieces)), answer=answer, sentence=sentence.index)
