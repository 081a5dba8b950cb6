"""Key terms: the words and phrases a lecture defines or keeps coming back to.

A candidate is a run of up to four words, never across punctuation, with content words at
both ends (or a capital letter used as a symbol, "big O notation", or an everyday word that
opens a name, "First Triumvirate", "Twelve Tables"), never a verb in the past ("held
imperium") nor a word said twice in a row ("price price"). It becomes a key term when the
lecture defines it (and a definition can be found for it), or, said at least twice, when it
reads like a term rather than everyday speech:

- one word: not an everyday English word (``wordfreq``'s list: "place", "ocean",
  "continental" are), not a name ("Wegener"), not a verb or participle ("sorted");
- a phrase: a noun phrase, not a clause ("current flows", "capacitor charges") or a
  participle ("quantity demanded"); one joined by "of" or "and" must recur three times.

A word no English word list knows ("sphenosphere") must be said three times: it is more
likely a mis-hearing. A name is a term only when the lecture names it as one ("He called
this supercontinent Pangaea"), or, said with "the" like an institution, a law or an event
rather than a person, when its own sentence describes it ("the Twelve Tables, the first
written code of Roman law").

Defined terms are preferred: their score is doubled, they come first, and a term the
lecture names ("... is called X") or explains ("X is a ...") is kept even when said once.
Terms never defined get places in proportion to the defined ones (half as many, at least
four), so a long lecture does not fill its list with recurring phrases ("sea floor").
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pegasus.studykit.definitions import find_definition
from pegasus.studykit.schemas import KeyTerm
from pegasus.studykit.text import (
    NAME_OPENERS,
    NP_ADJECTIVES,
    PAST_FORMS,
    TermKey,
    TimedSentence,
    TimedWord,
    is_common_word,
    is_content_word,
    normalize,
    word_set,
    word_zipf,
)

MAX_TERM_WORDS = 4
#: A term said once is kept only when the lecture defines it.
MIN_OCCURRENCES = 2
#: A phrase led by a name counts as defined only by a definition in its own sentence
#: (``Definition.rank``), not one borrowed from the sentence before ("... called Hannibal home").
NAMED_RANK = 2
#: A name said with "the" ("the Twelve Tables") counts as defined by what its own sentence
#: says about it ("..., the first written code of Roman law").
DESCRIBED_RANK = 1
#: An undefined single word, phrase joined by "of" or "and" ("movement of particles") or
#: phrase of everyday words ("growth rate") must recur this often.
MIN_RECURRENCES = 3
#: A recording shorter than this many sentences has nothing to recur: its rare single words
#: ("chlorophyll" in three sentences) count said once.
SHORT_LECTURE_SENTENCES = 8
#: A shorter term mostly said inside a longer kept one ("cycle" in "Calvin cycle") is dropped.
SUBSUME_RATIO = 0.6
MULTIWORD_BOOST = 0.5
#: Places for terms the lecture never defines: this share of the defined ones, at least
#: ``MIN_UNDEFINED_PLACES``.
UNDEFINED_SHARE = 0.5
MIN_UNDEFINED_PLACES = 4
DEFINITION_BOOST = 2.0
#: A one-word term said evenly all through the lecture ("item", "water") is more likely a
#: common word than a term: its score shrinks by up to this share.
SPREAD_PENALTY = 0.5
_SPREAD_BLOCK_SENTENCES = 8
_SPREAD_MAX_BLOCKS = 8

# Words allowed inside (never at the edge of) a term: "conservation of energy",
# "divide and conquer".
_INNER_WORDS = frozenset({"of", "and", "the"})
_DETERMINERS = frozenset({"the", "a", "an", "this", "these", "that", "those"})
# Content words when alone ("merge sort"), hedges before "of" ("sort of").
_HEDGES = frozenset({"sort", "kind"})
# "<term> is ...": the term is the whole clause subject.
_STRONG_VERBS = frozenset({"refers", "means", "measures", "describes", "stands", "states"})
_DEFINING_VERBS = _STRONG_VERBS | {"is", "are", "was", "were", "says", "tells", "tell"}
# "That push is the voltage", "This process is called ...": a subject that points back is
# never the term being defined.
_ANAPHORS = frozenset({"this", "that", "these", "those", "such"})
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
    ("we", "call"),
    ("now", "call"),
)
# "X is called Y", "X is what we call Y": X names nothing; Y is the term.
_NAMING_AFTER_VERB = frozenset({"called", "termed", "known", "referred", "what", "what's", "named"})
_ADVERBS = frozenset({"also", "sometimes", "often", "usually", "commonly", "simply", "now"})
# After a comma, what may explain the term before it: "the parallel circuit, where ...".
_EXPLAINING_NEXT = word_set("where whereby which meaning tells tell says a an the")
# Words that make the next word a verb: "they offer", "prices will rise", "to compare".
_VERB_CUES = word_set(
    "i you we they he she it will would can could should must may might to not don't "
    "doesn't didn't won't can't"
)
# Words that make the next word a noun: "the offer", "a rise", "their costs".
_NOUN_CUES = word_set(
    "the a an this that these those each every its their our your his her some any no"
)
# "You might call it a system of ...": a hedged comparison, not a name.
_MODALS = word_set("might could would may")
_COPULAS = word_set("is are was were")
_ORDINALS = word_set("first second third fourth fifth")
#: "this long struggle": at most this many words say what kind of thing a name is.
_CATEGORY_MAX = 4
#: "Each of these pieces is ...": the longest subject that points back to what it names.
_POINTING_SUBJECT_MAX = 5


@dataclass
class _Candidate:
    key: TermKey
    # (sentence index, word index) of each occurrence, in transcript order.
    positions: list[tuple[int, int]] = field(default_factory=list)
    surfaces: Counter[str] = field(default_factory=Counter)
    initial_surfaces: Counter[str] = field(default_factory=Counter)
    #: Occurrences right after "the": "the Twelve Tables", "the senate".
    determined: int = 0
    defined: bool = False
    #: 0 when all occurrences fall in one part of the lecture, 1 when evenly spread.
    spread: float = 0.0

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def size(self) -> int:
        return len(self.key)

    def name_like(self, *, whole: bool = True) -> bool:
        """Always capitalised inside a sentence ("Wegener", "San Francisco"), not an acronym
        ("ATP"); with ``whole`` false, a phrase that opens with a name ("Pacific plate")."""

        def capital(word: str) -> bool:
            return word[:1].isupper() and not word.isupper()

        spellings = [s.split() for s in self.surfaces]
        return bool(spellings) and all(
            all(capital(w) for w in words if w not in _INNER_WORDS) if whole else capital(words[0])
            for words in spellings
        )

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
    for candidate in candidates.values():
        # Named or explained only when a definition can really be found for it.
        if candidate.defined:
            found = find_definition(sentences, candidate.key, introduced=True)
            # A name ("the Andes are a volcanic arc") is a term only when the lecture names
            # it as one ("... called Panthalassa", "historians call this long struggle the
            # Conflict of the Orders"); a phrase led by a name ("Calvin cycle", not "Hannibal
            # home") when the sentence itself explains it.
            candidate.defined = found is not None and (
                not candidate.name_like(whole=False)
                or (found.rank >= NAMED_RANK and (found.named or not candidate.name_like()))
                or (found.category and candidate.name_like())
                or (
                    # "the Twelve Tables, the first written code of Roman law": a name said
                    # with "the" is an institution, a law, an event, not a person
                    candidate.name_like()
                    and candidate.determined * 2 >= candidate.count
                    and found.rank >= DESCRIBED_RANK
                    and found.first == found.last
                )
            )
    verbs = _verb_words(sentences)
    verbs_at_the_end = verbs | _verb_forms(sentences)
    short = len(sentences) < SHORT_LECTURE_SENTENCES
    eligible = [
        c
        for c in candidates.values()
        if _reads_like_a_term(c, verbs_at_the_end if c.size > 1 else verbs, short=short)
    ]
    for candidate in eligible:
        candidate.spread = _spread(candidate, len(sentences))
    kept = _drop_subsumed(eligible)
    # The lecture's defined terms first, then the others, each by score.
    kept.sort(key=lambda c: (not c.defined, -c.raw_score(), c.positions[0], c.key))
    defined = sum(1 for c in kept if c.defined)
    # A long lecture has many recurring phrases ("sea floor", "hot rock"): the terms it does
    # not define get places in proportion to those it defines.
    undefined_places = max(MIN_UNDEFINED_PLACES, math.ceil(defined * UNDEFINED_SHARE))
    chosen = kept[: min(count, defined + undefined_places)]
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


def _reads_like_a_term(candidate: _Candidate, verbs: frozenset[str], *, short: bool) -> bool:
    """Whether the candidate is a term a learner would study, not everyday speech. In a
    ``short`` recording a rare single word need not recur."""
    words = candidate.surface().lower().split()
    joined = any(w in _INNER_WORDS for w in words)
    if joined and "and" in words and candidate.count < MIN_OCCURRENCES:
        return False  # "light reactions and Calvin cycle": a list, unless it recurs
    if _superlative(words[0]):
        return False  # "the simplest method, where ..."
    spelled = [w for w in candidate.surface().split() if w.lower() not in _INNER_WORDS]
    if (
        "the" in words
        and all(is_common_word(w) for w in words if w not in _INNER_WORDS)
        and not all(w[:1].isupper() for w in spelled)
    ):
        return False  # "surface of the Earth", not "Conflict of the Orders"
    unknown = any(max(word_zipf(w), word_zipf(normalize(w))) == 0 for w in words)
    if unknown and candidate.count < (
        MIN_OCCURRENCES if candidate.name_like(whole=False) else MIN_RECURRENCES
    ):
        # "sphenosphere" said twice: a word no English word list knows is more likely a
        # mis-hearing than a term unless the lecture keeps saying it (names are spelled as
        # the lecture spells them: "Centuriate Assembly")
        return False
    if candidate.defined:
        return True
    everyday = all(is_common_word(w) for w in words if w not in _INNER_WORDS)
    rare_word = candidate.size == 1 and not everyday
    if rare_word and short:
        needed = 1
    elif joined or everyday or candidate.size == 1:
        needed = MIN_RECURRENCES
    else:
        needed = MIN_OCCURRENCES
    if candidate.count < needed:
        return False  # "movement of particles", "growth rate", "sorted list" said twice
    head = words[-1]
    # "capacitor charges" when the lecture says "it doesn't charge": a clause
    clause = len(words) > 1 and head != normalize(head) and normalize(head) in verbs
    if (
        head in verbs
        or clause
        or _inflected(head, ("ing", "ed", "ly"))
        or _inflected(words[0], ("ly", "ed"))
    ):
        return False  # "total current flowing", "quantity demanded", "sorted list"
    if candidate.name_like(whole=False):
        return False  # "Wegener", "Pacific plate", "San Francisco"
    return candidate.size > 1 or rare_word


def _inflected(word: str, suffixes: tuple[str, ...]) -> bool:
    """Whether ``word`` is an everyday word with one of ``suffixes`` added: "flowing",
    "sorted", "quickly"; not "string", "speed" or "supply"."""
    for suffix in suffixes:
        stem = word[: -len(suffix)]
        if not word.endswith(suffix) or len(stem) < 3:
            continue
        bases = {stem}
        if suffix == "ly":
            bases.add(stem + "le")  # "simply"
        else:
            bases.add(stem + "e")  # "charged", "charging"
            if stem[-1] == stem[-2]:
                bases.add(stem[:-1])  # "stopped", "running"
        if stem.endswith("i"):
            bases.add(stem[:-1] + "y")  # "happily", "carried"
        if any(is_common_word(b) for b in bases):
            return True
    return False


def _superlative(word: str) -> bool:
    """ "simplest", "biggest", "easiest": an everyday adjective's superlative."""
    if len(word) < 6 or not word.endswith("est"):
        return False
    stem = word[:-3]
    bases = {stem, stem + "e", stem[:-1] + "y"}
    if stem[-1] == stem[-2]:
        bases.add(stem[:-1])  # "biggest"
    # The base is an everyday word said more often than this form: not "forest", "interest".
    return any(
        (len(b) >= 4 or b == stem[:-1]) and is_common_word(b) and word_zipf(b) > word_zipf(word)
        for b in bases
    )


def _verb_words(sentences: Sequence[TimedSentence]) -> frozenset[str]:
    """Words the lecture uses as verbs more often than as nouns ("offer" in "they offer")."""
    as_verb: Counter[str] = Counter()
    as_noun: Counter[str] = Counter()
    for sentence in sentences:
        for chunk in sentence.chunks():
            for before, word in itertools.pairwise(chunk):
                if before.lower in _VERB_CUES:
                    as_verb[word.lower] += 1
                elif before.lower in _NOUN_CUES:
                    as_noun[word.lower] += 1
    return frozenset(w for w, n in as_verb.items() if n > as_noun[w] and is_content_word(w))


def _verb_forms(sentences: Sequence[TimedSentence]) -> frozenset[str]:
    """Words in -s whose -ing or -ed form the lecture also says: "flows" and "flowing",
    "charges" and "charged". At the end of a phrase ("current flows") they make a clause."""
    said = {w.lower for sentence in sentences for w in sentence.words}
    forms = set()
    for word in said:
        stem = normalize(word)
        if word.endswith("s") and stem != word:
            inflected = {stem + "ing", stem + "ed", stem[:-1] + "ing", stem + "d"}
            if inflected & said:
                forms.add(word)
    return frozenset(forms)


def _collect(sentences: Sequence[TimedSentence]) -> dict[TermKey, _Candidate]:
    candidates: dict[TermKey, _Candidate] = {}
    for sentence in sentences:
        offset = 0
        chunks = sentence.chunks()
        for n, chunk in enumerate(chunks):
            following = chunks[n + 1][0].lower if n + 1 < len(chunks) else None
            defined = _defined_starts(chunk, following, possible=True, after_break=n > 0)
            for start in range(len(chunk)):
                for size in range(1, MAX_TERM_WORDS + 1):
                    words = chunk[start : start + size]
                    # "called the first triumvirate": a naming may open with an ordinal
                    if len(words) < size or not (_is_term(words) or defined.get(start) == size):
                        continue
                    key = tuple(w.norm for w in words)
                    candidate = candidates.setdefault(key, _Candidate(key))
                    candidate.positions.append((sentence.index, offset + start))
                    if start and chunk[start - 1].lower == "the":
                        candidate.determined += 1
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
    if not (_meaningful(words, 0) and _meaningful(words, len(words) - 1)):
        return False
    if len(words) > 1 and words[0].lower in _HEDGES and words[1].lower == "of":
        return False  # "sort of", "kind of" hedge; they do not start a term
    if any(w.lower in PAST_FORMS for w in words):
        return False  # "held imperium", "ladder stood the consulship": a verb inside
    if any(a.lower == b.lower for a, b in itertools.pairwise(words)):
        return False  # "price price elasticity": a speaker's repetition
    inner = words[1:-1]
    return all(
        _meaningful(words, k + 1)
        or w.lower in _INNER_WORDS
        # "Conflict of the Orders", "tribune of the plebs"
        or (w.lower == "the" and k > 0 and inner[k - 1].lower == "of")
        for k, w in enumerate(inner)
    )


def _meaningful(words: Sequence[TimedWord], k: int) -> bool:
    """Whether ``words[k]`` may carry a term: a content word, a capital letter used as a
    symbol inside a phrase ("big O notation"), or an everyday word that opens a name ("First
    Triumvirate")."""
    word = words[k]
    if is_content_word(word.lower):
        return True
    if len(words) > 1 and _symbol(word):
        return True
    following = words[k + 1] if k + 1 < len(words) else None
    return (
        word.lower in NAME_OPENERS
        and following is not None
        and following.text[:1].isupper()
        and not following.breaks_before
    )


def _symbol(word: TimedWord) -> bool:
    """A single capital letter that is no pronoun or article: the "O" of "big O"."""
    return len(word.text) == 1 and word.text.isupper() and word.text not in ("A", "I")


def _defined_starts(
    chunk: Sequence[TimedWord],
    following: str | None = None,
    *,
    possible: bool = False,
    after_break: bool = False,
) -> dict[int, int]:
    """Word index where a defined term starts -> its length.

    With ``possible``, also the terms that may be explained after a comma ("the parallel
    circuit, where ...", "that time, the time constant, tells you ...") or by what they do
    ("A hash function turns ..."): candidates for ``find_definition`` to confirm.
    """
    lowers = [w.lower for w in chunk]
    found: dict[int, int] = {}
    subject = 1 if lowers and lowers[0] in _DETERMINERS else 0
    anaphoric = bool(lowers) and lowers[0] in _ANAPHORS
    pointed = _pointed_at(chunk) if possible else None
    if pointed is not None:
        found[pointed[0]] = pointed[1]
    if (
        possible
        and after_break
        and following is None
        and 1 < len(chunk) <= MAX_TERM_WORDS + 1
        and lowers[0] == "the"
        and all(w.text[:1].isupper() for w in chunk[1:] if w.lower not in _INNER_WORDS)
        and _is_term(chunk[1:])
    ):
        found[1] = len(chunk) - 1  # "... the most lasting institution of Rome, the Senate."
    if (
        possible
        and subject == 1
        and lowers[0] in ("a", "an")
        and "in" in lowers[2 : MAX_TERM_WORDS + 2]
    ):
        # "A divergent boundary in a place where ...": "is" as a recogniser may write it
        verb = lowers.index("in", 2)
        if verb + 1 < len(lowers) and lowers[verb + 1] in ("a", "an") and _is_term(chunk[1:verb]):
            found.setdefault(1, verb - 1)
    if possible and following in _EXPLAINING_NEXT and not anaphoric:
        for size in range(min(MAX_TERM_WORDS, len(chunk)), 0, -1):
            if _is_term(chunk[len(chunk) - size :]):
                found[len(chunk) - size] = size
                break
    # "... price elasticity of demand measures, how much ...": the verb may end the chunk.
    last_verb = len(lowers) if possible and following is not None else len(lowers) - 1
    for verb in range(1, last_verb):
        # "... and today the veto means ...": the term just before an explicit verb.
        if lowers[verb] in _STRONG_VERBS:
            size = next(
                (
                    n
                    for n in range(min(MAX_TERM_WORDS, verb), 0, -1)
                    if _is_term(chunk[verb - n : verb])
                ),
                0,
            )
            start = verb - size
            # "today the veto means ...", not "each whole number means ..."; "a price price
            # elasticity of demand measures ...": a repeated word is the speaker's stumble.
            if size and (start == 0 or lowers[start - 1] in ("the", "a", "an", lowers[start])):
                found.setdefault(start, size)
    for verb in range(subject + 1, min(subject + MAX_TERM_WORDS, len(lowers) - 1) + 1):
        does = possible and lowers[verb].endswith("s") and not anaphoric
        if (lowers[verb] in _DEFINING_VERBS or does) and _is_term(chunk[subject:verb]):
            complement = verb + 1
            while complement < len(lowers) - 1 and lowers[complement] in _ADVERBS:
                complement += 1
            if not anaphoric and lowers[min(complement, len(lowers) - 1)] not in _NAMING_AFTER_VERB:
                found[subject] = verb - subject
            break
    for i in range(len(lowers)):
        for trigger in _TRIGGERS:
            if tuple(lowers[i : i + len(trigger)]) != trigger:
                continue
            if any(w in _MODALS for w in lowers[max(0, i - 2) : i]):
                continue  # "you might call it a system of ...": a comparison, not a name
            start = i + len(trigger)
            start += _category(chunk, start)
            # "called the light reactions and the Calvin cycle" defines both.
            while start < len(lowers):
                if lowers[start] in _DETERMINERS:
                    start += 1
                ordinal = start < len(lowers) and lowers[start] in _ORDINALS
                longest = _longest_term_at(chunk, start + ordinal)
                if longest and ordinal:
                    # "historians call it the first triumvirate" (and later "the second")
                    found.setdefault(start, longest + 1)
                    start += longest + 1
                    continue
                if not longest:
                    break
                found.setdefault(start, longest)
                start += longest
                if start < len(lowers) and lowers[start] in ("and", "or"):
                    start += 1
                else:
                    break
    return found


def _category(chunk: Sequence[TimedWord], start: int) -> int:
    """How many words after a naming say what kind of thing a capitalised name is: "this
    supercontinent" in "called this supercontinent Pangaea", "long struggle" in "call this
    long struggle the Conflict of the Orders"; 0 when no name follows them."""
    at = start + (start < len(chunk) and chunk[start].lower in _ANAPHORS | _DETERMINERS)
    kind = 0
    while (
        at + kind < len(chunk)
        and kind < _CATEGORY_MAX
        and chunk[at + kind].text.islower()
        and (is_content_word(chunk[at + kind].lower) or chunk[at + kind].lower in NP_ADJECTIVES)
    ):
        kind += 1
    name = at + kind + (at + kind < len(chunk) and chunk[at + kind].lower == "the")
    if not kind or name >= len(chunk) or not chunk[name].text[:1].isupper():
        return 0
    return name - start


def _pointed_at(chunk: Sequence[TimedWord]) -> tuple[int, int] | None:
    """ "Each of these pieces is a tectonic plate": where the term a subject that points back
    is said to be starts, and its length, when it ends the chunk."""
    lowers = [w.lower for w in chunk]
    for copula in range(2, min(len(lowers) - 2, _POINTING_SUBJECT_MAX + 1)):
        # "Each of these pieces in a tectonic plate,": "is" as a recogniser may write it
        misheard = lowers[copula] == "in" and lowers[copula + 1] in ("a", "an")
        if not (lowers[copula] in _COPULAS or misheard) or lowers[copula + 1] not in (
            "a",
            "an",
            "the",
        ):
            continue
        pointer = next((k for k in range(copula) if lowers[k] in _ANAPHORS), None)
        if pointer is None or pointer + 1 >= copula or not is_content_word(lowers[pointer + 1]):
            return None
        size = len(lowers) - copula - 2
        if size <= MAX_TERM_WORDS and _is_term(chunk[copula + 2 :]):
            return copula + 2, size
        return None
    return None


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
