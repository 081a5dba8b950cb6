"""Key terms: the words and phrases a lecture keeps coming back to or defines."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pegasus.studykit.schemas import KeyTerm
from pegasus.studykit.text import TermKey, TimedSentence, TimedWord, is_content_word

MAX_TERM_WORDS = 4
#: A term said once is kept only when the lecture defines it.
MIN_OCCURRENCES = 2
#: A shorter term mostly said inside a longer kept one ("cycle" in "Calvin cycle") is dropped.
SUBSUME_RATIO = 0.6
MULTIWORD_BOOST = 0.5
DEFINITION_BOOST = 2.0
#: A one-word term said evenly all through the lecture ("item", "water") is more likely a
#: common word than a term: its score shrinks by up to this share.
SPREAD_PENALTY = 0.5
_SPREAD_BLOCK_SENTENCES = 8
_SPREAD_MAX_BLOCKS = 8

# Words allowed inside (never at the edge of) a term: "conservation of energy",
# "divide and conquer".
_INNER_WORDS = frozenset({"of", "and"})
_DETERMINERS = frozenset({"the", "a", "an", "this", "these", "that", "those"})
# Content words when alone ("merge sort"), hedges before "of" ("sort of").
_HEDGES = frozenset({"sort", "kind"})
# "<term> is ...": the term is the whole clause subject.
_DEFINING_VERBS = frozenset(
    {"is", "are", "refers", "means", "measures", "describes", "stands", "states"}
)
# "... called <term>": the term follows the trigger.
_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("called",),
    ("termed",),
    ("known", "as"),
    ("referred", "to", "as"),
    ("call", "this"),
    ("call", "it"),
    ("call", "these"),
    ("call", "them"),
)


@dataclass
class _Candidate:
    key: TermKey
    # (sentence index, word index) of each occurrence, in transcript order.
    positions: list[tuple[int, int]] = field(default_factory=list)
    surfaces: Counter[str] = field(default_factory=Counter)
    initial_surfaces: Counter[str] = field(default_factory=Counter)
    defined: bool = False
    #: 0 when all occurrences fall in one part of the lecture, 1 when evenly spread.
    spread: float = 0.0

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def size(self) -> int:
        return len(self.key)

    def eligible(self) -> bool:
        if "and" in self.key:  # "divide and conquer" is a term only when it recurs
            return self.count >= MIN_OCCURRENCES
        return self.defined or self.count >= MIN_OCCURRENCES

    def raw_score(self) -> float:
        score = self.count * (1 + MULTIWORD_BOOST * (self.size - 1))
        if self.size == 1:
            score *= 1 - SPREAD_PENALTY * self.spread
        return score * DEFINITION_BOOST if self.defined else score

    def surface(self) -> str:
        votes = self.surfaces or self.initial_surfaces
        # Most common spelling; ties go to the one seen first (Counter keeps insertion order).
        return max(votes.items(), key=lambda item: item[1])[0]


def extract_key_terms(sentences: Sequence[TimedSentence], count: int) -> list[KeyTerm]:
    """The ``count`` best key terms, best first, each with its first mention and context."""
    if count <= 0 or not sentences:
        return []
    candidates = _collect(sentences)
    eligible = [c for c in candidates.values() if c.eligible()]
    for candidate in eligible:
        candidate.spread = _spread(candidate, len(sentences))
    kept = _drop_subsumed(eligible)
    kept.sort(key=lambda c: (-c.raw_score(), c.positions[0], c.key))
    chosen = kept[:count]
    if not chosen:
        return []
    top = chosen[0].raw_score()
    terms = []
    for candidate in chosen:
        s_index, w_index = candidate.positions[0]
        sentence = sentences[s_index]
        terms.append(
            KeyTerm(
                term=candidate.surface(),
                occurrences=candidate.count,
                score=round(candidate.raw_score() / top, 4),
                first_start=sentence.words[w_index].start,
                first_end=sentence.words[w_index + candidate.size - 1].end,
                context=sentence.text,
            )
        )
    return terms


def sentence_defines_term(sentence: TimedSentence) -> bool:
    """Whether the sentence reads like a definition ("X is ...", "... called X")."""
    return any(_defined_starts(chunk) for chunk in sentence.chunks())


def _collect(sentences: Sequence[TimedSentence]) -> dict[TermKey, _Candidate]:
    candidates: dict[TermKey, _Candidate] = {}
    for sentence in sentences:
        offset = 0
        for chunk in sentence.chunks():
            defined = _defined_starts(chunk)
            for start in range(len(chunk)):
                for size in range(1, MAX_TERM_WORDS + 1):
                    words = chunk[start : start + size]
                    if len(words) < size or not _is_term(words):
                        continue
                    key = tuple(w.norm for w in words)
                    candidate = candidates.setdefault(key, _Candidate(key))
                    candidate.positions.append((sentence.index, offset + start))
                    if offset + start == 0:
                        candidate.initial_surfaces[_uncapitalize(_spell(words))] += 1
                    else:
                        candidate.surfaces[_spell(words)] += 1
                    if defined.get(start) == size:
                        candidate.defined = True
            offset += len(chunk)
    return candidates


def _spread(candidate: _Candidate, sentence_count: int) -> float:
    """Normalised entropy of the term's occurrences over equal blocks of sentences."""
    blocks = min(_SPREAD_MAX_BLOCKS, max(2, sentence_count // _SPREAD_BLOCK_SENTENCES))
    per_block = Counter(s * blocks // sentence_count for s, _ in candidate.positions)
    total = candidate.count
    entropy = -sum(c / total * math.log(c / total) for c in per_block.values())
    return entropy / math.log(blocks)


def _is_term(words: Sequence[TimedWord]) -> bool:
    if not (is_content_word(words[0].lower) and is_content_word(words[-1].lower)):
        return False
    if len(words) > 1 and words[0].lower in _HEDGES and words[1].lower == "of":
        return False  # "sort of", "kind of" hedge; they do not start a term
    return all(is_content_word(w.lower) or w.lower in _INNER_WORDS for w in words[1:-1])


def _defined_starts(chunk: Sequence[TimedWord]) -> dict[int, int]:
    """Word index where a defined term starts -> its length."""
    lowers = [w.lower for w in chunk]
    found: dict[int, int] = {}
    subject = 1 if lowers and lowers[0] in _DETERMINERS else 0
    for verb in range(subject + 1, min(subject + MAX_TERM_WORDS, len(lowers) - 1) + 1):
        if lowers[verb] in _DEFINING_VERBS and _is_term(chunk[subject:verb]):
            found[subject] = verb - subject
            break
    for i in range(len(lowers)):
        for trigger in _TRIGGERS:
            if tuple(lowers[i : i + len(trigger)]) != trigger:
                continue
            start = i + len(trigger)
            # "called the light reactions and the Calvin cycle" defines both.
            while start < len(lowers):
                if lowers[start] in _DETERMINERS:
                    start += 1
                longest = _longest_term_at(chunk, start)
                if not longest:
                    break
                found.setdefault(start, longest)
                start += longest
                if start < len(lowers) and lowers[start] in ("and", "or"):
                    start += 1
                else:
                    break
    return found


def _longest_term_at(chunk: Sequence[TimedWord], start: int) -> int:
    for size in range(MAX_TERM_WORDS, 0, -1):
        words = chunk[start : start + size]
        if len(words) == size and _is_term(words):
            return size
    return 0


def _drop_subsumed(candidates: list[_Candidate]) -> list[_Candidate]:
    """Drop a term said mostly inside a longer candidate ("cycle" in "Calvin cycle"), unless
    the lecture defines the term itself ("Demand is ..." next to "demand curve")."""
    # Spans of every multi-word candidate, by sentence: (start, end, size).
    spans: dict[int, list[tuple[int, int, int]]] = {}
    for c in candidates:
        if c.size > 1:
            for s_index, w_index in c.positions:
                spans.setdefault(s_index, []).append((w_index, w_index + c.size, c.size))
    kept = []
    for c in candidates:
        covered = sum(
            1
            for s_index, w_index in c.positions
            if any(
                size > c.size and start <= w_index and w_index + c.size <= end
                for start, end, size in spans.get(s_index, ())
            )
        )
        if covered / c.count >= SUBSUME_RATIO and not c.defined:
            continue
        kept.append(c)
    return kept


def _spell(words: Sequence[TimedWord]) -> str:
    return " ".join(w.text for w in words)


def _uncapitalize(text: str) -> str:
    head, _, rest = text.partition(" ")
    if head[:1].isupper() and head[1:].islower():
        head = head.lower()
    return f"{head} {rest}" if rest else head
