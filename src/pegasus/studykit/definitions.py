"""Definitions: what the lecturer said a term means, in their own words.

Recognised forms, for a term X:

- X as the subject: "X is a/the ...", "X refers to ...", "X means ...", "X is defined as ...",
  "X stands for ...", "X measures ...", "X states that ...", "X, which means ...",
  "X, which is a ...";
- X named after its description: "the movement of water is called X", "... known as X",
  "... what we call X"; when the words before the naming are too thin ("This is called X",
  "We call this X") the sentence before it is the definition;
- "a process called X, where ...": the clause after X.

The first sentence in the lecture that explains X wins. A definition never contains X itself
(it would give the answer away on a card).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pegasus.studykit.schemas import KeyTerm, Span
from pegasus.studykit.spans import SourceText
from pegasus.studykit.text import (
    TermKey,
    TimedSentence,
    find_term,
    is_content_word,
    normalize,
    term_key,
    tokenize,
    word_offsets,
    word_set,
)

MIN_WORDS = 3
#: "DNA stands for deoxyribonucleic acid": explicit forms may be this short.
MIN_EXPLICIT_WORDS = 2
MAX_WORDS = 40
#: A longer definition is cut at the first punctuation after this many words.
CUT_AFTER_WORDS = 12

_STRONG, _WEAK, _APPOSITIVE, _APPOSITIVE_WEAK = "strong", "weak", "appositive", "appositive-weak"
_RANKS = {_STRONG: 3, _APPOSITIVE: 3, _WEAK: 2, _APPOSITIVE_WEAK: 2}
_BEST_RANK = 3
_NAMED_RANK = 2
_PREVIOUS_SENTENCE_RANK = 1
# Words after the term, and how much they promise a definition follows.
_AFTER: tuple[tuple[tuple[str, ...], str], ...] = (
    (("is", "defined", "as"), _STRONG),
    (("are", "defined", "as"), _STRONG),
    (("can", "be", "defined", "as"), _STRONG),
    (("refers", "to"), _STRONG),
    (("refer", "to"), _STRONG),
    (("means",), _STRONG),
    (("stands", "for"), _STRONG),
    (("describes",), _STRONG),
    (("measures",), _STRONG),
    (("states", "that"), _STRONG),  # "the law of demand states that ..."
    (("which", "means"), _APPOSITIVE),
    (("which", "refers", "to"), _APPOSITIVE),
    (("meaning",), _APPOSITIVE),
    (("which", "is"), _APPOSITIVE_WEAK),
    (("which", "are"), _APPOSITIVE_WEAK),
    (("is",), _WEAK),
    (("are",), _WEAK),
)
# Words before the term that name it.
_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("referred", "to", "as"),
    ("known", "as"),
    ("called",),
    ("termed",),
    ("named",),
    ("call", "this"),
    ("call", "it"),
    ("call", "these"),
    ("call", "them"),
    ("call", "that"),
    ("we", "call"),
)
# May stand between a trigger and the term: "we call this process carbon fixation".
_TRIGGER_GAP = word_set(
    "the a an process phenomenon effect stage step thing idea concept property structure"
)
_GAP_MAX = 2
# "where molecules spread out" after "a process called diffusion, ..."
_CLAUSE_OPENERS = frozenset({"where", "whereby", "meaning", "i.e"})
_DETERMINERS = frozenset({"the", "a", "an"})
_JOINERS = frozenset({"of", "and"})
# May precede a term used as a subject: "So, now, the term X is ...".
_LEADS = word_set(
    "so now okay ok well and then basically remember recall that first second next finally "
    "formally um uh right alright the a an term word concept idea of"
)
_ADVERBS = word_set(
    "simply basically just essentially really actually also generally usually often"
)
# A weak "X is ..." defines X only when the complement reads like one: "X is a ...".
_WEAK_OPENERS = word_set("a an the when where how what whatever any one our something anything")
_RELATIVES = word_set("that which where who whose")
_RELATIVE_WITHIN = 5
# Complements about the lecture itself, not the term: "X is the topic for today".
_OFF_TOPIC = word_set("today lecture discuss we'll i'll let's topic talk cover later")
_TRAILING_NOISE = word_set(
    "is are was were be been often sometimes usually also commonly simply generally now what "
    "which we and so this"
)
_THIN = word_set("process thing things stuff idea this it")
_CUT_WORDS = frozenset({"but"})
_HARD_STOP = re.compile(r"[;:]|\s[-\u2013\u2014]\s|\u2014")


@dataclass(frozen=True, slots=True)
class Definition:
    """A term's definition and the sentences (indexes, inclusive) that say it."""

    text: str
    first: int
    last: int


def find_definition(sentences: Sequence[TimedSentence], key: TermKey) -> Definition | None:
    """Where the lecture explains the term ``key`` best (then first), or None.

    "X refers to / means / stands for / is defined as" beats "X is a ..." and "... called X",
    which beat a definition borrowed from the sentence before.
    """
    best: tuple[int, Definition] | None = None
    for i, sentence in enumerate(sentences):
        for position in find_term(sentence, key):
            found = _after_term(sentence, key, position) or _named_term(sentences, i, key, position)
            if found is None:
                continue
            text, first, rank = found
            if best is None or rank > best[0]:
                best = (rank, Definition(text=text, first=first, last=i))
            if rank == _BEST_RANK:
                return best[1]
    return best[1] if best is not None else None


def _after_term(
    sentence: TimedSentence, key: TermKey, position: int
) -> tuple[str, int, int] | None:
    words = sentence.words
    lowers = [w.lower for w in words]
    after = position + len(key)
    if _extends_left(sentence, position):
        return None  # "facilitated diffusion refers to ..." does not define "diffusion"
    subject = _is_subject(sentence, position)
    for pattern, strength in _AFTER:
        if tuple(lowers[after : after + len(pattern)]) != pattern:
            continue
        appositive = strength in (_APPOSITIVE, _APPOSITIVE_WEAK)
        if appositive and not words[after].breaks_before:
            continue
        if strength == _WEAK and not subject:
            continue
        start = after + len(pattern)
        while start < len(words) and lowers[start] in _ADVERBS:
            start += 1
        if start >= len(words) or (words[start].breaks_before and not appositive):
            continue
        if strength in (_WEAK, _APPOSITIVE_WEAK) and not _reads_like_definition(lowers, start):
            continue
        # "X, which means Y, is ...": the aside ends at the next comma.
        stop_at_break = appositive and subject
        shortest = MIN_EXPLICIT_WORDS if _RANKS[strength] == _BEST_RANK else MIN_WORDS
        text = _complement(
            sentence, start, len(words), stop_at_break=stop_at_break, shortest=shortest
        )
        if text is not None and _acceptable(text, key):
            return text, sentence.index, _RANKS[strength]
    return None


def _named_term(
    sentences: Sequence[TimedSentence], index: int, key: TermKey, position: int
) -> tuple[str, int, int] | None:
    sentence = sentences[index]
    words = sentence.words
    lowers = [w.lower for w in words]
    after = position + len(key)
    if after < len(words) and lowers[after] in ("and", "or"):
        return None  # "called the light reactions and the Calvin cycle": a list, not one
    if after < len(words) and not words[after].breaks_before and is_content_word(lowers[after]):
        return None  # "called the market equilibrium" does not name "market"
    trigger_start = _trigger_before(lowers, position)
    if trigger_start is None:
        return None
    if trigger_start and lowers[trigger_start - 1] in ("and", "or"):
        return None
    if after < len(words) and words[after].breaks_before and lowers[after] in _CLAUSE_OPENERS:
        text = _complement(sentence, after + 1, len(words), stop_at_break=False)
        if text is not None and _acceptable(text, key):
            return text, sentence.index, _NAMED_RANK
    end = trigger_start
    while end > 0 and lowers[end - 1] in _TRAILING_NOISE:
        end -= 1
    begin = 0
    while begin < end and lowers[begin] in _LEADS - _DETERMINERS:
        begin += 1
    thin = sum(1 for w in lowers[begin:end] if is_content_word(w) and w not in _THIN) < 2
    if not thin:
        text = _complement(sentence, begin, end, stop_at_break=False)
        if text is not None and _acceptable(text, key):
            return text, sentence.index, _NAMED_RANK
        return None
    if index == 0:
        return None
    previous = sentences[index - 1]
    if previous.text.rstrip().endswith("?"):
        return None
    text = _complement(previous, 0, len(previous.words), stop_at_break=False)
    if text is not None and _acceptable(text, key, min_content=2):
        return text, previous.index, _PREVIOUS_SENTENCE_RANK
    return None


def _trigger_before(lowers: Sequence[str], position: int) -> int | None:
    """Where a naming trigger ends just before ``position`` (gap words allowed), or None."""
    for gap in range(_GAP_MAX + 1):
        end = position - gap
        if end < 0 or any(w not in _TRIGGER_GAP for w in lowers[end:position]):
            break
        for trigger in _TRIGGERS:
            start = end - len(trigger)
            if start >= 0 and tuple(lowers[start:end]) == trigger:
                return start
    return None


def _reads_like_definition(lowers: Sequence[str], start: int) -> bool:
    """ "X is a ...", "X is when ...", or "X is molten rock that ...": a noun phrase with a
    relative clause soon after, rather than "X is important"."""
    if lowers[start] in _WEAK_OPENERS:
        return True
    return any(w in _RELATIVES for w in lowers[start + 1 : start + _RELATIVE_WITHIN])


def _extends_left(sentence: TimedSentence, position: int) -> bool:
    """Whether the term at ``position`` is the tail of a longer phrase."""
    words = sentence.words
    if position == 0 or words[position].breaks_before:
        return False
    before = words[position - 1].lower
    if before in _JOINERS and position >= 2 and not words[position - 1].breaks_before:
        before = words[position - 2].lower  # "elasticity of demand measures ..."
    return is_content_word(before) and before not in _LEADS


def _is_subject(sentence: TimedSentence, position: int) -> bool:
    words = sentence.words
    if position == 0 or words[position].breaks_before:
        return True
    before = position - 1
    if words[before].lower in _DETERMINERS and (before == 0 or words[before].breaks_before):
        return True
    return all(w.lower in _LEADS for w in words[:position])


def _complement(
    sentence: TimedSentence,
    start: int,
    end: int,
    *,
    stop_at_break: bool,
    shortest: int = MIN_WORDS,
) -> str | None:
    """Words ``start`` to ``end`` (exclusive) of ``sentence`` as said, cut at a clause break."""
    words = sentence.words
    offsets = word_offsets(sentence)
    stop = end
    for k in range(start + 1, end):
        gap = sentence.text[offsets[k - 1][1] : offsets[k][0]] if offsets else ""
        if _HARD_STOP.search(gap):
            stop = k
            break
        if words[k].breaks_before and (stop_at_break or words[k].lower in _CUT_WORDS):
            stop = k
            break
    if stop - start > MAX_WORDS:
        breaks = [
            k for k in range(start + CUT_AFTER_WORDS, start + MAX_WORDS) if words[k].breaks_before
        ]
        if not breaks:
            return None
        stop = breaks[0]
    if stop - start < shortest:
        return None
    if offsets is None:
        return " ".join(w.text for w in words[start:stop])
    return sentence.text[offsets[start][0] : offsets[stop - 1][1]].strip()


def _acceptable(text: str, key: TermKey, *, min_content: int = 1) -> bool:
    tokens = tokenize(text)
    norms = [normalize(t) for t in tokens]
    if any(tuple(norms[i : i + len(key)]) == key for i in range(len(norms))):
        return False
    if any(t in _OFF_TOPIC for t in tokens):
        return False
    content = {n for t, n in zip(tokens, norms, strict=True) if is_content_word(t)} - set(key)
    return len(content) >= min_content


def explain_terms(
    terms: Sequence[KeyTerm], sentences: Sequence[TimedSentence], source: SourceText
) -> list[KeyTerm]:
    """``terms`` with the lecturer's definition and its span, or (undefined) the span of the
    sentence that first uses the term."""
    explained = []
    for term in terms:
        key = term_key(term.term)
        definition = find_definition(sentences, key)
        span: Span | None = None
        text = ""
        if definition is not None and source.quotable(definition.first):
            span = source.span(definition.first, definition.last)
            text = definition.text
        else:
            first_use = next((i for i, s in enumerate(sentences) if find_term(s, key)), None)
            if first_use is not None and source.quotable(first_use):
                span = source.span(first_use)
        explained.append(
            KeyTerm(
                **term.model_dump(exclude={"definition", "source"}), definition=text, source=span
            )
        )
    return explained
