"""Definitions: what the lecturer said a term means, in their own words.

Recognised forms, for a term X:

- X as the subject: "X is a/the ...", "X refers to ...", "X means ...", "X is defined as ...",
  "X stands for ...", "X measures ...", "X states/says that ...", "X tells you ...",
  "X, which means ...", "X, which is a ...";
- X named after its description: "the movement of water is called X", "... known as X",
  "... what we call X". The description is the naming's own noun phrase ("wrapped in a thin
  boundary called X": "a thin boundary"), or the clause before it when that is too thin ("an
  idea known as X"), or the sentence before when the naming points back ("This is called X",
  "That growth rate is called X"). Another name ("X is also called Y", "Y, as it's also
  called") defines nothing;
- "a process called X, where ...", "the X, where ...": the clause after X;
- X doing something, as the subject ("A hash function turns a key into ..."), when nothing
  better is said;
- "X, the power to command ...": an appositive opened by "the" whose noun phrase goes on
  with "of", "to", "that" (not a bare phrase, "the time constant", nor a clause);
- "Each of these pieces is a tectonic plate": a subject that points back at what the sentence
  before described names the complement, and that sentence says what it is;
- "the most lasting institution of Rome, the Senate.": a name set off after its description;
- "A divergent boundary in a place where ...": "is" as a speech recogniser may write it, only
  in that frame (an opening "A/An X in a/an Y" followed by a relative clause).

Direction matters: in "X is called Y" and "That push is the voltage" the term is the named
side, never the subject. "X is ..." defines X only when the rest reads like a definition: not
a bare label ("The unit is the watt"), a kind ("The Andes are a volcanic arc, built ..."), an
example ("X is the classic example") or a pointer ("X are the dangerous ones"). A hedged
naming ("you might call it ...") names nothing.

The best-ranked explanation wins, the first of equals. A definition never contains X itself
(it would give the answer away on a card).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pegasus.studykit.schemas import KeyTerm, Span
from pegasus.studykit.spans import SourceText
from pegasus.studykit.text import (
    NP_ADJECTIVES,
    PAST_FORMS,
    TermKey,
    TimedSentence,
    TimedWord,
    find_term,
    is_common_word,
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
#: "the X, where ...", "X turns ... into ...": said about X, not quite a definition.
_DESCRIBED_RANK = 1
#: "a strategy we call X" with only the sentence before to explain it: a last resort.
_GUESS_RANK = 0
#: A description that points back ("This process is called X") with fewer content words
#: than this borrows the sentence before.
_ANAPHOR_CONTENT_WORDS = 3
#: A last clause shorter than this before a naming is the end of a list, not the description.
_SHORTEST_CLAUSE = 4
#: "..., and historians call it X": a clause this short after a conjunction only names X.
_NAMER_MAX_WORDS = 3
_CONJUNCTIONS = word_set("and but so")
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
    (("says", "that"), _STRONG),
    (("tells", "us", "that"), _STRONG),
    (("tells", "you"), _STRONG),
    (("tells", "us"), _STRONG),
    (("tell", "you"), _STRONG),  # "Kirchhoff's laws tell you ..."
    (("tell", "us"), _STRONG),
    (("which", "means"), _APPOSITIVE),
    (("which", "refers", "to"), _APPOSITIVE),
    (("meaning",), _APPOSITIVE),
    (("which", "is"), _APPOSITIVE_WEAK),
    (("which", "are"), _APPOSITIVE_WEAK),
    (("is",), _WEAK),
    (("are",), _WEAK),
    (("was",), _WEAK),  # "The senate was a council of ..."
    (("were",), _WEAK),
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
    ("they", "call"),
    ("now", "call"),
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
_WEAK_OPENERS = word_set(
    "a an the when where how what whatever any one two three four our something anything"
)
_RELATIVES = word_set("that which where who whose")
_RELATIVE_WITHIN = 5
#: "A algorithm in a finite list of precise steps that ...": the relative clause that shows
#: "in" stands for "is" comes within this many words.
_MISHEARD_RELATIVE_WITHIN = 8
# Complements about the lecture itself, not the term: "X is the topic for today".
_OFF_TOPIC = word_set("today lecture discuss we'll i'll let's topic talk cover later")
_TRAILING_NOISE = word_set(
    "is are was were be been often sometimes usually also commonly simply generally now what "
    "what's that's which we and so this like"
)
_THIN = word_set("process thing things stuff idea this it")
# A subject that points back ("That push is the voltage") is not the term being defined, and
# a description that points back ("This process is called X") borrows the sentence before.
_ANAPHORS = word_set("this that these those such")
_COPULAS = word_set("is are was were")
_PAST_COPULAS = word_set("was were")
# "X is also called Y": another name, not a definition.
_ALIAS_ADVERBS = word_set("also sometimes often usually commonly")
# "X is the classic example": what the complement is about when it is no definition.
# "X are the dangerous ones": a complement that points back to X's kind.
_NOT_DEFINING = word_set("example examples case reason answer catch problem question one ones")
_HEAD_WORDS = 3
# "the X, where each component gets its own branch": the clause describes X.
_DESCRIBING_OPENERS = word_set("where whereby")
# "the chloroplast, a small organelle ...": a noun phrase in apposition introduces X; not
# one opened by "the", which may be the term itself ("that time, the time constant, ..."),
# nor by "one" ("the reciprocals, one over R ...").
_APPOSITION_OPENERS = word_set("a an")
# Verbs that describe what X does although they are everyday words ("X shows the ...").
_DESCRIBING_VERBS = word_set("shows gives makes takes keeps turns")
_CUT_WORDS = frozenset({"but"})
# "You might call it a system of ...": a hedged comparison names nothing.
_MODALS = word_set("might could would may")
# Between a naming and a name, the kind of thing named: "this supercontinent", "this long
# struggle the".
_CATEGORY_MAX = 4
# "Each of these pieces is a tectonic plate": a subject that points back, up to its copula.
_POINTING_SUBJECT_MAX = 5
# "X, the power to command ...": an appositive opened by "the" describes X when it goes on
# past a bare noun phrase ("that time, the time constant, tells ..." does not).
_APPOSITIVE_THE_MIN_WORDS = 4
# ... and its noun phrase goes on with one of these: "the power to", "the first written
# code of", "the great prize that".
_APPOSITIVE_LINKS = word_set("of to for that which who whose where")
#: "the first written code of": at most this many words before the link; "In the late 1920s,
#: the British geologist Arthur Holmes suggested that ..." is a clause.
_APPOSITIVE_HEAD_MAX_WORDS = 3
# "ATP stands for X": X is what another term means, not a term of its own.
_ANSWERING_VERBS = word_set("stands means refers defined")
#: "X is a volcanic arc, built ...": a complement this short before a break is a label.
_LABEL_MAX_WORDS = 3
_HARD_STOP = re.compile(r"[;:]|\s[-\u2013\u2014]\s|\u2014")


@dataclass(frozen=True, slots=True)
class Definition:
    """A term's definition and the sentences (indexes, inclusive) that say it."""

    text: str
    first: int
    last: int
    #: How the lecture says it, best first: 3 "X means ...", 2 "X is a ..." or "... is
    #: called X", 1 the sentence before or what is said about X, 0 a guess.
    rank: int = 0
    #: Whether the lecture names the term ("... is called X", "we call this X").
    named: bool = False
    #: Whether the naming says what kind of thing the term is: "He called this supercontinent
    #: Pangaea", "historians call this long struggle the Conflict of the Orders".
    category: bool = False


def find_definition(
    sentences: Sequence[TimedSentence], key: TermKey, *, introduced: bool = False
) -> Definition | None:
    """Where the lecture explains the term ``key`` best (then first), or None.

    "X refers to / means / stands for / is defined as" beats "X is a ..." and "... called X",
    which beat a definition borrowed from the sentence before and what is said about X.
    With ``introduced``, only where the lecture introduces X as a term: what it says X does
    ("X turns a key into ...") does not count.
    """
    best: tuple[int, Definition] | None = None
    for i, sentence in enumerate(sentences):
        for position in find_term(sentence, key):
            named = None
            found = (
                _after_term(sentence, key, position)
                or (named := _named_term(sentences, i, key, position))
                or (named := _pointed_at(sentences, i, key, position))
            )
            found = (
                found
                or _described(sentence, key, position, introduced=introduced)
                or _named_after_description(sentence, key, position)
                or _misheard_copula(sentence, key, position)
            )
            if found is None:
                continue
            text, first, rank = found
            if best is None or rank > best[0]:
                category = found is named and _category_before(sentence.words, position) > 0
                definition = Definition(
                    text=text,
                    first=first,
                    last=i,
                    rank=rank,
                    named=found is named,
                    category=category,
                )
                best = (rank, definition)
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
        if strength in (_WEAK, _APPOSITIVE_WEAK) and (
            _points_back(sentence, position) or key[-1] in _NOT_DEFINING
        ):
            continue  # "That push is the voltage", "The obvious question is where ..."
        if strength == _WEAK and not subject:
            continue
        start = after + len(pattern)
        while start < len(words) and lowers[start] in _ADVERBS:
            start += 1
        # "X measures, how much ...": a comma after an explicit verb still introduces it.
        explicit = strength == _STRONG
        if start >= len(words) or (words[start].breaks_before and not (appositive or explicit)):
            continue
        if strength in (_WEAK, _APPOSITIVE_WEAK) and not _reads_like_definition(sentence, start):
            continue
        if pattern[0] in _PAST_COPULAS and lowers[start] not in _DETERMINERS:
            continue  # "The tribunes were declared sacred": a story, not a definition
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
    if after < len(words) and lowers[after] in ("and", "or") and not words[after].breaks_before:
        return None  # "called the light reactions and the Calvin cycle": a list, not one
    if after < len(words) and not words[after].breaks_before and is_content_word(lowers[after]):
        return None  # "called the market equilibrium" does not name "market"
    trigger_start = _trigger_before(lowers, position)
    category = _category_before(words, position)
    if trigger_start is None and category:
        # "call this long struggle the X" ("call this" names), "called this supercontinent X"
        trigger_start = _trigger_before(lowers, position - category) or _trigger_before(
            lowers, position - category - 1
        )
    if trigger_start is None:
        return None
    if trigger_start and lowers[trigger_start - 1] in ("and", "or"):
        return None
    if _hedged(lowers, trigger_start):
        return None  # "You might call it a system of mutual obligation"
    if trigger_start and lowers[trigger_start - 1] in _ALIAS_ADVERBS:
        return None  # "X is also called Y": another name for X, not a definition of Y
    if after < len(words) and words[after].breaks_before and lowers[after] in _CLAUSE_OPENERS:
        text = _complement(sentence, after + 1, len(words), stop_at_break=False)
        if text is not None and _acceptable(text, key):
            return text, sentence.index, _NAMED_RANK
    end = trigger_start
    while end > 0 and lowers[end - 1] in _TRAILING_NOISE:
        end -= 1
    begin = _skip_leads(lowers, 0, end)
    last_break = max([begin, *(k for k in range(begin + 1, end) if words[k].breaks_before)])
    if last_break > begin and lowers[last_break] in _RELATIVES:
        end = last_break  # "a fixed ladder of offices, which the Romans called X"
        last_break = max([begin, *(k for k in range(begin + 1, end) if words[k].breaks_before)])
    if (
        begin < last_break
        and lowers[last_break] in _CONJUNCTIONS
        and end - last_break <= _NAMER_MAX_WORDS
        and _content_words(lowers[begin:last_break]) >= 2
    ):
        # "three men formed an alliance, and historians call it X": the clause before says
        # what X is; "and historians" only says who names it
        end = last_break
        last_break = begin
    if 0 < end - last_break < _SHORTEST_CLAUSE and _content_words(lowers[begin:last_break]) >= 2:
        last_break = begin  # "farmers, craftsmen, traders and soldiers, were known as X"
    clause = _skip_leads(lowers, last_break, end)
    if (
        clause < end
        and lowers[clause] in _ANAPHORS
        and _content_words(lowers[clause + 1 : end]) < _ANAPHOR_CONTENT_WORDS
    ):
        return _previous_sentence(sentences, index, key, _PREVIOUS_SENTENCE_RANK)
    # "Every cell is wrapped in a thin boundary called X": the noun phrase that is named.
    copulas = [k for k in range(clause, end) if lowers[k] in _COPULAS]
    if copulas:
        determiners = [k for k in range(copulas[-1] + 1, end) if lowers[k] in _DETERMINERS]
        clause = determiners[-1] if determiners else copulas[-1] + 1
    if _content_words(lowers[clause:end]) >= 2:
        text = _complement(sentence, clause, end, stop_at_break=False)
        if text is not None and _acceptable(text, key):
            return text, sentence.index, _NAMED_RANK
        return None
    # "an idea known as X": the clauses before it say what the idea is.
    if begin < last_break and _content_words(lowers[begin:last_break]) >= 2:
        text = _complement(sentence, begin, last_break, stop_at_break=False)
        if text is not None and _acceptable(text, key):
            return text, sentence.index, _PREVIOUS_SENTENCE_RANK
        return None
    pronoun = all(w in _THIN or w in _ANAPHORS or not is_content_word(w) for w in lowers[:end])
    rank = _PREVIOUS_SENTENCE_RANK if pronoun else _GUESS_RANK
    return _previous_sentence(sentences, index, key, rank)


def _previous_sentence(
    sentences: Sequence[TimedSentence], index: int, key: TermKey, rank: int
) -> tuple[str, int, int] | None:
    """The sentence before ``index`` as the definition ("... This is called X.")."""
    if index == 0:
        return None
    previous = sentences[index - 1]
    if previous.text.rstrip().endswith("?"):
        return None
    text = _complement(previous, 0, len(previous.words), stop_at_break=False)
    if text is not None and _acceptable(text, key, min_content=2):
        return text, previous.index, rank
    return None


def _described(
    sentence: TimedSentence, key: TermKey, position: int, *, introduced: bool = False
) -> tuple[str, int, int] | None:
    """ "the X, where ...", or X as the subject doing something ("X turns a key into ...").

    With ``introduced``, only "is the X, where ...", which introduces X.
    """
    words = sentence.words
    lowers = [w.lower for w in words]
    after = position + len(key)
    if after >= len(words) - 1 or _extends_left(sentence, position):
        return None
    determined = position > 0 and lowers[position - 1] in _DETERMINERS
    # "the history of science": everyday words; "the Twelve Tables": a name
    named = all(w.text[:1].isupper() for w in words[position:after] if w.lower not in _JOINERS)
    everyday = not named and all(
        is_common_word(w) for w in lowers[position:after] if w not in _JOINERS
    )
    if (
        words[after].breaks_before
        and lowers[after] in _APPOSITION_OPENERS
        and determined
        and not (introduced and everyday)  # "the history of science, an idea that ..."
    ):
        # "the chloroplast, a small organelle found in leaf cells"
        stop = next((k for k in range(after + 1, len(words)) if words[k].breaks_before), None)
        if stop is not None and stop < len(words) and lowers[stop] in ("and", "or"):
            return None  # "a pen, a ruler and a compass": a list
        text = _complement(sentence, after, len(words), stop_at_break=True, shortest=MIN_WORDS)
        if text is not None and _acceptable(text, key, min_content=2):
            return text, sentence.index, _DESCRIBED_RANK
        return None
    if words[after].breaks_before and lowers[after] == "the" and not (introduced and everyday):
        # "The consuls held imperium, the power to command an army and to enforce the law."
        stop = next((k for k in range(after + 1, len(words)) if words[k].breaks_before), len(words))
        head = after + 1
        while head < stop and (is_content_word(lowers[head]) or lowers[head] in NP_ADJECTIVES):
            head += 1
        if (
            stop - after < _APPOSITIVE_THE_MIN_WORDS
            or not 0 < head - after - 1 <= _APPOSITIVE_HEAD_MAX_WORDS
            or head >= stop
            or lowers[head] not in _APPOSITIVE_LINKS
            or (stop < len(words) and lowers[stop] in ("and", "or"))
        ):
            # "that time, the time constant, tells ...": the term itself; "after another
            # secession, the Hortensian law made ...": a clause
            return None
        if any(w in _ANSWERING_VERBS for w in lowers[:position]):
            return None  # "ATP stands for adenosine triphosphate, the ...": the answer side
        text = _complement(sentence, after, len(words), stop_at_break=True, shortest=MIN_WORDS)
        if text is not None and _acceptable(text, key, min_content=2):
            return text, sentence.index, _DESCRIBED_RANK
        return None
    if words[after].breaks_before and lowers[after] in _DESCRIBING_OPENERS:
        named = (
            position >= 2
            and lowers[position - 2] in _COPULAS
            and lowers[position - 1] in _DETERMINERS
        )
        if introduced and not named:
            return None
        text = _complement(sentence, after + 1, len(words), stop_at_break=True)
        if text is not None and _acceptable(text, key):
            return text, sentence.index, _DESCRIBED_RANK
        return None
    verb = lowers[after]
    if (
        introduced
        or words[after].breaks_before
        or not _is_subject(sentence, position)
        or _points_back(sentence, position)
        or not (len(verb) > 3 and verb.endswith("s") and verb.isalpha())
        or verb in _COPULAS
        or not (is_content_word(verb) or verb in _DESCRIBING_VERBS)
        or normalize(verb) == verb  # a plural noun or "process", not a verb
    ):
        return None
    text = _complement(sentence, after, len(words), stop_at_break=False)
    if text is not None and _acceptable(text, key, min_content=2):
        return text, sentence.index, _DESCRIBED_RANK
    return None


def _skip_leads(lowers: Sequence[str], begin: int, end: int) -> int:
    """``begin`` moved past words that only open a clause ("so", "and", "now")."""
    while begin < end and lowers[begin] in (_LEADS | _JOINERS) - _DETERMINERS - _ANAPHORS:
        begin += 1
    return begin


def _content_words(lowers: Sequence[str]) -> int:
    return sum(1 for w in lowers if is_content_word(w) and w not in _THIN)


def _points_back(sentence: TimedSentence, position: int) -> bool:
    """Whether the term at ``position`` follows "this", "that", "such" ("That push ...")."""
    return position > 0 and sentence.words[position - 1].lower in _ANAPHORS


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


def _named_after_description(
    sentence: TimedSentence, key: TermKey, position: int
) -> tuple[str, int, int] | None:
    """ "Beside them stood the most lasting institution of Rome, the Senate.": a description
    and then, set off at the end of the sentence, the name it gives. Only a name: in "a yoke
    of spears, the ultimate military disgrace" the second phrase describes the first."""
    words = sentence.words
    lowers = [w.lower for w in words]
    the = position - 1
    if (
        position + len(key) != len(words)
        or not all(w.text[:1].isupper() for w in words[position:] if w.lower not in _JOINERS)
        or the < 1
        or lowers[the] != "the"
        or not words[the].breaks_before
    ):
        return None
    clause = max([0, *(k for k in range(1, the) if words[k].breaks_before)])
    # The description's own "the", not one inside it ("... of the city") or before it
    # ("Beside the consuls stood the most lasting institution ...").
    determiners = [
        k
        for k in range(clause, the)
        if lowers[k] in _DETERMINERS and (k == 0 or lowers[k - 1] not in _JOINERS)
    ]
    if not determiners:
        return None
    text = _complement(sentence, determiners[-1], the, stop_at_break=False)
    if text is None or not _acceptable(text, key, min_content=2):
        return None
    return text, sentence.index, _DESCRIBED_RANK


def _misheard_copula(
    sentence: TimedSentence, key: TermKey, position: int
) -> tuple[str, int, int] | None:
    """ "A divergent boundary in a place where two plates move apart": "is" as a speech
    recogniser sometimes writes it, in the one frame where "in" makes no sense, a sentence
    that opens "A/An X in a/an Y" and goes on with a relative clause about Y."""
    words = sentence.words
    lowers = [w.lower for w in words]
    after = position + len(key)
    if (
        position != 1
        or lowers[0] not in ("a", "an")
        or after + 2 >= len(words)
        or lowers[after] != "in"
        or lowers[after + 1] not in ("a", "an")
        or any(w.breaks_before for w in words[1 : after + 2])
    ):
        return None
    relative = next((k for k in range(after + 2, len(words)) if lowers[k] in _RELATIVES), None)
    if relative is None or relative - after > _MISHEARD_RELATIVE_WITHIN:
        return None
    text = _complement(sentence, after + 1, len(words), stop_at_break=False)
    if text is None or not _acceptable(text, key, min_content=2):
        return None
    return text, sentence.index, _PREVIOUS_SENTENCE_RANK


def _hedged(lowers: Sequence[str], trigger_start: int) -> bool:
    """Whether the naming at ``trigger_start`` follows a modal ("you might call it ...")."""
    return any(w in _MODALS for w in lowers[max(0, trigger_start - 2) : trigger_start])


def _category_before(words: Sequence[TimedWord], position: int) -> int:
    """How many words name the kind of thing between a naming ("this", "the") and the
    capitalised name at ``position``: 1 in "called this supercontinent Pangaea", 3 in "call
    this long struggle the Conflict of the Orders"; 0 when the term is no name or no such
    words stand there."""
    if position < 2 or not words[position].text[:1].isupper() or words[position].breaks_before:
        return 0
    size = 1 if words[position - 1].lower in _DETERMINERS else 0
    kind = 0
    while (
        kind < _CATEGORY_MAX
        and position - size - kind - 1 > 0
        and (
            is_content_word(words[position - size - kind - 1].lower)
            or words[position - size - kind - 1].lower in NP_ADJECTIVES
        )
        and words[position - size - kind - 1].text.islower()
        and not words[position - size - kind].breaks_before
    ):
        kind += 1
    if not kind:
        return 0
    before = words[position - size - kind - 1]
    if before.lower not in _ANAPHORS | _DETERMINERS or words[position - size - kind].breaks_before:
        return 0  # "this supercontinent", "the long struggle"; not "crack called Silfra"
    return size + kind


def _pointed_at(
    sentences: Sequence[TimedSentence], index: int, key: TermKey, position: int
) -> tuple[str, int, int] | None:
    """ "Each of these pieces is a tectonic plate": a subject that points back is named X;
    the sentence before says what it is (the term is the named side, never the subject)."""
    words = sentences[index].words
    lowers = [w.lower for w in words]
    after = position + len(key)
    copula = position - 2
    # "Each of these pieces in a tectonic plate, ...": "is" as a recogniser may write it
    misheard = copula >= 1 and lowers[copula] == "in" and lowers[position - 1] in ("a", "an")
    if (
        copula < 1
        or not (lowers[copula] in _COPULAS or misheard)
        or lowers[position - 1] not in _DETERMINERS
        or (after < len(words) and not words[after].breaks_before)
        or key[-1] in _NOT_DEFINING
    ):
        return None
    clause = max([0, *(k for k in range(1, copula + 1) if words[k].breaks_before)])
    subject = lowers[clause:copula]
    pointer = next((k for k, w in enumerate(subject) if w in _ANAPHORS), None)
    if (
        pointer is None
        or len(subject) > _POINTING_SUBJECT_MAX
        or pointer + 1 >= len(subject)
        or not is_content_word(subject[pointer + 1])
    ):
        return None  # "This is the X": a bare pronoun may point at anything
    if index == 0:
        return None
    before = {w.norm for w in sentences[index - 1].words}
    if not any(w.norm in before for w in words[clause + pointer + 1 : copula]):
        return None  # "that detail is a modern invention": no naming of what was said
    return _previous_sentence(sentences, index, key, _PREVIOUS_SENTENCE_RANK)


def _reads_like_definition(sentence: TimedSentence, start: int) -> bool:
    """ "X is a ...", "X is when ...", or "X is molten rock that ...": a noun phrase with a
    relative clause soon after, rather than "X is important", a bare label ("X is the
    watt, ...") or an example ("X is the classic example")."""
    words = sentence.words
    lowers = [w.lower for w in words]
    stop = next((k for k in range(start + 1, len(words)) if words[k].breaks_before), len(words))
    if stop - start <= len(("the", "watt")) and lowers[start] == "the":
        return False  # "The unit is the watt, one joule every second": a label
    if (
        stop - start <= _LABEL_MAX_WORDS
        and lowers[start] in ("a", "an")
        and stop < len(words)
        and lowers[stop] not in _RELATIVES | _DESCRIBING_OPENERS
    ):
        return False  # "The Andes are a volcanic arc, built where ...": a kind, no definition
    if any(w in _NOT_DEFINING for w in lowers[start : min(stop, start + _HEAD_WORDS)]):
        return False
    if lowers[start] in _WEAK_OPENERS:
        return True
    return any(w in _RELATIVES for w in lowers[start + 1 : start + _RELATIVE_WITHIN])


def _extends_left(sentence: TimedSentence, position: int) -> bool:
    """Whether the term at ``position`` is the tail of a longer phrase."""
    words = sentence.words
    if position == 0 or words[position].breaks_before:
        return False
    before = words[position - 1].lower
    if before == words[position].lower or before in PAST_FORMS:
        # "a price price elasticity of demand": the speaker repeats a word; "The consuls
        # held imperium, ...": a verb before the term
        return False
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
