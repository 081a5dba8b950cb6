"""Text handling for study kits: words, stopwords and sentences with their times."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pegasus.transcription.schemas import Segment, Transcript


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of ``words`` as a set (for word lists in code)."""
    return frozenset(words.split())


_word_set = word_set


# English function words plus the fillers of spoken lectures ("okay", "gonna", "kind of").
STOPWORDS: frozenset[str] = _word_set(
    """
    a about above across after afterwards again against all almost alone along already also
    although always am among amongst an and another any anybody anyhow anyone anything anyway
    anywhere are aren't around as at back be became because become becomes becoming been before
    beforehand behind being below beside besides between beyond both but by can can't cannot
    could couldn't did didn't do does doesn't doing don't done down during each either else
    elsewhere enough etc even ever every everybody everyone everything everywhere except few
    for former formerly from further had hadn't has hasn't have haven't having he he'd he'll
    he's hence her here here's hers herself him himself his how how's however i i'd i'll i'm
    i've if in indeed instead into is isn't it it'd it'll it's its itself just least less let
    let's many may maybe me meanwhile might mine more moreover most mostly much must mustn't my
    myself namely neither never nevertheless next no nobody none nor not nothing now nowhere of
    off often on once one ones only onto or other others otherwise our ours ourselves out over
    own per perhaps please quite rather same say says said see seem seemed seems several shall
    she she'd she'll she's should shouldn't since so some somebody somehow someone something
    sometime sometimes somewhere still such than that that's the their theirs them themselves
    then thence there there's thereafter thereby therefore therein these they they'd they'll
    they're they've this those though through throughout thus to together too toward towards
    under unless until up upon us very via was wasn't we we'd we'll we're we've well were
    weren't what what's whatever when whenever where where's whereas wherever whether which
    while who who's whoever whole whom whose why will with within without won't would wouldn't
    yet you you'd you'll you're you've your yours yourself yourselves
    actually ah alright basically bit bunch called call calls couple definitely erm everyone
    example first folks get gets getting go goes going gonna good got gotta guys hello hey hmm
    kind know known last like likely literally little look looking lot lots make makes making
    mean means mm need okay ok pretty probably put really right second stuff sure talk
    talking tell thank thanks thing things think third today try uh uhm um use used uses using
    wanna want way ways yeah yes
    came come comes coming did does find finds found gave give gives giving happen happened
    happening happens keep keeps kept show showed shown shows take taken takes taking took
    two three four five six seven eight nine ten twenty hundred thousand million billion
    eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen thirty forty
    fifty sixty seventy eighty ninety twenties thirties forties fifties sixties seventies
    eighties nineties ago today's yesterday's tomorrow's later earlier bc ad
    able big bigger biggest large larger largest small smaller smallest new old high higher
    low lower long longer short shorter great greater better best worse worst same different
    easy hard simple left top bottom middle whole half full less least lot many
    ask asked begin begins change changes changed move moves moved need needs needed start
    starts started turn turns turned work works worked bring brings help helps mind
    """
)

WORD_RE = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")

_CLOSERS = "\"')]}\u201d\u2019\u00bb"
_OPENERS = "\"'([{\u201c\u2018\u00ab"
_ATTACHING = ",.;:!?\u2026)]}\"'\u201d\u2019\u00bb%"
_ABBREVIATIONS = _word_set(
    "al approx cf dr e.g eq eqs fig figs i.e jr mr mrs ms nos prof resp sr st vs"
)
_INITIALISM = re.compile(r"(?:[a-z]\.)+[a-z]")
# Unpunctuated speech still needs sentences: cut at a segment end past this many tokens,
# and anywhere past the hard limit.
_SOFT_MAX_TOKENS = 40
_HARD_MAX_TOKENS = 80
_PLURAL_EXCEPTIONS = _word_set("series species news physics mathematics genus chaos lens")


@dataclass(frozen=True, slots=True)
class TimedToken:
    """A whitespace-separated token of the transcript and its time span."""

    text: str
    start: float
    end: float
    segment_end: bool = False


@dataclass(frozen=True, slots=True)
class TimedWord:
    """A word inside a sentence; ``breaks_before`` is set when punctuation precedes it."""

    text: str
    lower: str
    norm: str
    start: float
    end: float
    breaks_before: bool


@dataclass(frozen=True, slots=True)
class TimedSentence:
    """A sentence of the transcript, its time span and its words."""

    index: int
    text: str
    start: float
    end: float
    words: tuple[TimedWord, ...]

    def chunks(self) -> list[list[TimedWord]]:
        """The runs of words not separated by punctuation (term candidates never cross one)."""
        runs: list[list[TimedWord]] = []
        for word in self.words:
            if word.breaks_before or not runs:
                runs.append([])
            runs[-1].append(word)
        return runs


def tokenize(text: str) -> list[str]:
    """The words of ``text``, lower-cased, punctuation dropped."""
    return [_lower(m.group()) for m in WORD_RE.finditer(text)]


def normalize(word: str) -> str:
    """A light singular form of a lower-cased word, so "reactions" counts as "reaction"."""
    if len(word) <= 3 or word in _PLURAL_EXCEPTIONS or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")) or (word.endswith("oes") and len(word) > 5):
        return word[:-2]  # classes, boxes, volcanoes
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def is_stopword(word: str) -> bool:
    return word in STOPWORDS


#: Zipf frequency (log10 of a word's uses per billion words of English) from which a word is
#: an everyday word: "place" 5.7, "ocean" 4.7, "continental" 4.0, "membrane" 3.8 are;
#: "diffusion" 3.4, "capacitance" 2.9 and "osmosis" 2.8 are not.
COMMON_ZIPF = 3.5


@functools.lru_cache(maxsize=16384)
def word_zipf(word: str) -> float:
    """How common a lower-cased English word is, on the Zipf scale (0 when unknown).

    The word list ships inside the ``wordfreq`` wheel; nothing is downloaded.
    """
    from wordfreq import zipf_frequency  # about 0.2 s and 25 MB the first time

    return float(zipf_frequency(word, "en"))


def is_common_word(word: str) -> bool:
    """Whether a lower-cased word is an everyday English word in any of its forms
    ("particles" or "particle")."""
    return max(word_zipf(word), word_zipf(normalize(word))) >= COMMON_ZIPF


#: Irregular past forms: a verb, never part of a noun phrase ("held imperium", "the ladder
#: stood ...").
PAST_FORMS = _word_set(
    """
    held took gave went came brought kept told became began ran sent won paid met stood sat
    fell grew knew drew wrote meant sold bought caught taught fought sought struck drove broke
    chose stole wore froze spent
    """
)

#: Everyday adjectives (stopwords here) that still describe a noun: "this long struggle",
#: "the first written code of ...".
NP_ADJECTIVES = _word_set(
    "first second third last big great new old high low long short small little middle lower "
    "main only"
)

#: Stopwords that open a proper name when the next word is capitalised too: "First
#: Triumvirate", "Twelve Tables", "big O notation".
NAME_OPENERS = NP_ADJECTIVES | _word_set(
    "two three four five six seven eight nine ten eleven twelve hundred thousand"
)


def is_content_word(word: str) -> bool:
    """Whether a lower-cased word carries meaning: not a stopword, not a bare number."""
    return len(word) >= 2 and word not in STOPWORDS and any(c.isalpha() for c in word)


def split_sentences(text: str) -> list[str]:
    """``text`` split into sentences at terminal punctuation (abbreviations respected)."""
    tokens = [TimedToken(t, 0.0, 0.0) for t in text.split()]
    return [s.text for s in _group_sentences(tokens)]


def join_tokens(tokens: Iterable[str]) -> str:
    """Tokens joined by spaces, except that bare punctuation sticks to the token before it."""
    out = ""
    for token in tokens:
        if out and token and all(c in _ATTACHING for c in token):
            out += token
        elif token:
            out = f"{out} {token}" if out else token
    return out


def timed_tokens(transcript: Transcript) -> list[TimedToken]:
    """Every token of the transcript with its time: word times, or proportional to position."""
    tokens: list[TimedToken] = []
    for segment in transcript.segments:
        seg_tokens = _segment_tokens(segment)
        if seg_tokens:
            last = seg_tokens[-1]
            seg_tokens[-1] = TimedToken(last.text, last.start, last.end, segment_end=True)
            tokens.extend(seg_tokens)
    return tokens


def timed_sentences(transcript: Transcript) -> list[TimedSentence]:
    """The transcript's sentences, each with the start of its first and end of its last word."""
    return _group_sentences(timed_tokens(transcript))


def _segment_tokens(segment: Segment) -> list[TimedToken]:
    seg_start = segment.start
    seg_end = max(segment.end, segment.start)
    words = [w for w in segment.words if w.word.strip()]
    if words:
        return [TimedToken(w.word.strip(), w.start, max(w.end, w.start)) for w in words]
    parts = segment.text.split()
    if not parts:
        return []
    total = sum(len(p) for p in parts) + len(parts) - 1
    duration = seg_end - seg_start
    tokens = []
    offset = 0
    for part in parts:
        start = seg_start + duration * offset / total
        offset += len(part)
        tokens.append(TimedToken(part, start, seg_start + duration * offset / total))
        offset += 1
    return tokens


def _group_sentences(tokens: Sequence[TimedToken]) -> list[TimedSentence]:
    sentences: list[TimedSentence] = []
    current: list[TimedToken] = []
    for i, token in enumerate(tokens):
        current.append(token)
        following = tokens[i + 1].text if i + 1 < len(tokens) else None
        if (
            following is None
            or _ends_sentence(token.text, following)
            or (token.segment_end and len(current) >= _SOFT_MAX_TOKENS)
            or len(current) >= _HARD_MAX_TOKENS
        ):
            sentence = _make_sentence(len(sentences), current)
            if sentence is not None:
                sentences.append(sentence)
            current = []
    return sentences


def _ends_sentence(token: str, following: str) -> bool:
    core = token.rstrip(_CLOSERS)
    if not core:
        return False
    if core[-1] in "!?\u2026":
        return True
    if core[-1] != ".":
        return False
    stem = _lower(core[:-1].lstrip(_OPENERS))
    if stem in _ABBREVIATIONS or _INITIALISM.fullmatch(stem):
        return False
    first = following.lstrip(_OPENERS)[:1]
    return not first.islower()


def _make_sentence(index: int, tokens: Sequence[TimedToken]) -> TimedSentence | None:
    words: list[TimedWord] = []
    pending_break = False
    for token in tokens:
        position = 0
        for match in WORD_RE.finditer(token.text):
            text = match.group()
            lower = _lower(text)
            gap = token.text[position : match.start()]
            # "mid -ocean ridge": a recogniser's hyphen glued to the next word joins a compound;
            # a dash between words stands apart ("the crust - and the mantle").
            joined = gap == "-" and position == 0 and bool(words) and not pending_break
            words.append(
                TimedWord(
                    text=text,
                    lower=lower,
                    norm=normalize(lower),
                    start=token.start,
                    end=token.end,
                    breaks_before=pending_break or (bool(gap) and not joined),
                )
            )
            pending_break = False
            position = match.end()
        if token.text[position:]:
            pending_break = True
    text = join_tokens(t.text for t in tokens)
    if not text:
        return None
    return TimedSentence(
        index=index, text=text, start=tokens[0].start, end=tokens[-1].end, words=tuple(words)
    )


def _lower(text: str) -> str:
    return text.lower().replace("\u2019", "'")


# --- helpers for items that quote the lecture ----------------------------------------------

TermKey = tuple[str, ...]

# Words that open a sentence without adding to it ("So, um, the cell ..."); "like" and "now"
# stay out when they could carry meaning elsewhere, so only a leading run is stripped.
_LEADING_FILLERS = re.compile(
    r"^(?:(?:so|um+|uh+|uhm|erm|okay|ok|well|now|right|alright|and so|and|you know|basically|"
    r"anyway|actually|i mean)\b[,.]?\s+)+",
    re.IGNORECASE,
)
_INNER_FILLERS = re.compile(
    r"(?:,\s*(?:you know|i mean)\s*,(?=\s))|(?:,?\s*\b(?:um+|uh+|uhm|erm)\b,?)", re.IGNORECASE
)
_SMALL_WORDS = _word_set("a an and as at but by for from in into of on or per the to via vs with")


def term_key(term: str) -> TermKey:
    """How a term is compared: its words lower-cased and singular ("Light Reactions" ->
    ("light", "reaction"))."""
    return tuple(normalize(word) for word in tokenize(term))


def find_term(sentence: TimedSentence, key: TermKey) -> list[int]:
    """Word indexes where ``key`` is said in ``sentence``, never across punctuation."""
    size = len(key)
    if not size:
        return []
    words = sentence.words
    return [
        i
        for i in range(len(words) - size + 1)
        if all(words[i + k].norm == key[k] for k in range(size))
        and not any(words[i + k].breaks_before for k in range(1, size))
    ]


def word_offsets(sentence: TimedSentence) -> list[tuple[int, int]] | None:
    """Each word's character range in ``sentence.text``; None if they cannot be matched."""
    matches = list(WORD_RE.finditer(sentence.text))
    if len(matches) != len(sentence.words) or any(
        m.group() != w.text for m, w in zip(matches, sentence.words, strict=True)
    ):
        return None
    return [(m.start(), m.end()) for m in matches]


def strip_fillers(text: str) -> str:
    """``text`` without spoken fillers ("so", "um", "you know"), first letter capitalised.

    Leaves ``text`` as it is when too little would remain.
    """
    lighter = _INNER_FILLERS.sub("", _LEADING_FILLERS.sub("", text.strip()))
    lighter = re.sub(r"\s{2,}", " ", lighter).strip(" ,")
    if len(tokenize(lighter)) < 3:
        return text.strip()
    return lighter[:1].upper() + lighter[1:]


def title_case(text: str) -> str:
    """Headline capitals ("calvin cycle and ATP" -> "Calvin Cycle and ATP"); words with
    capitals of their own (ATP, pH) are kept as they are."""
    words = text.split()
    out = []
    for i, word in enumerate(words):
        if any(c.isupper() for c in word[1:]) or (word[:1].isupper() and i):
            out.append(word)
        elif i and word.lower() in _SMALL_WORDS:
            out.append(word.lower())
        else:
            out.append(word[:1].upper() + word[1:])
    return " ".join(out)
