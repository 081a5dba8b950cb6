"""Personal data in transcripts: what a course's policy redacts, and the redactor.

A course chooses the kinds it redacts (all four by default) and lists the names on its
roster. The transcribe stage runs ``Redactor(policy).transcript(...)`` on every new
transcript before it is stored, so the search index, the study kit, the exports and every
later reader see only the redacted text. Each item found is replaced by its placeholder,
in the segment's text and in its timed words (a span over several words becomes one word
from the first word's start to the last word's end). Counts per kind come back for logs and
metrics; the values themselves are never returned, logged or stored anywhere.

What each kind matches (``docs/security/pii-policy.md`` says the same for course owners):

- ``email`` -> ``[email]``: written addresses (``jane.doe@example.com``, also with a space
  around the ``@``) and the spoken form a transcriber writes out (``jane dot doe at example
  dot com``). A spoken address needs a known top-level domain at its end, a domain that is
  not an ordinary word such as "the", and either a local part that cannot be an ordinary
  word (it holds a dot, an underscore or a digit) or a cue such as "email" or "contact"
  shortly before it; "look at google dot com" stays.
- ``phone`` -> ``[phone]``: 7 to 15 digits written in groups (spaces, dashes, dots,
  parentheses: ``555-123-4567``, ``(555) 123-4567``, ``020 7946 0958``, ``06 12 34 56
  78``) or after a ``+`` (``+44 20 7946 0958``, ``+15551234567``). Kept as ordinary
  numbers: decimals (``3.14159265``), dates (``2024-01-15``, ``15.01.2024``), years
  (``1990 2000``), ranges (``2345-2400``), thousands (``1.000.000``) and number lists whose
  groups are one or two digits (``10 20 30 40``; a French ``06 12 ...`` starts with 0).
- ``id_number`` -> ``[id]``: an unbroken run of 6 to 20 digits (``20231234``; not a
  decimal, an amount after a currency sign, or a percentage), a US social security number
  (``123-45-6789``), and letter-digit codes of 1 to 3 letters and 5 or more digits
  (``A1234567``, ``AB-123456C``, ``12345678Z``). Years, "chapter 42", "3.14", "10:30",
  "H2O", "B12" and "RTX4090" stay. Ten unbroken digits are an ``id_number``, not a
  ``phone``: only grouped digits or a ``+`` make a phone number.
- ``roster_name`` -> ``[name]``: each full name on the roster, in any letter case, with
  or without accents (``José`` also matches ``Jose``), parts joined by spaces or hyphens;
  and each part of a name alone (a first name or a surname), as a whole word, except
  one-letter parts and particles such as "de", "van" or "al". A part that is also an
  ordinary English word ("Will", "Mark", "Rose", "Brown", "Park") is matched only when
  written with a capital letter, so "mark the answer" stays but "Mark asked" does not, and
  neither does a capitalized "Brown" that starts a sentence (over-redaction is the safe
  side). A possessive keeps its ending: "Smith's" becomes "[name]'s".

What no pattern can catch is said plainly in the policy document: a name that is not on
the roster, a value the speech recognition misheard or wrote in words ("five five five..."),
and an item split across two segments.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from pegasus.transcription.schemas import Segment, Transcript, Word


class PiiKind(enum.StrEnum):
    """The kinds of personal data a course may redact (``courses.redaction_kinds``)."""

    EMAIL = "email"
    PHONE = "phone"
    ID_NUMBER = "id_number"
    ROSTER_NAME = "roster_name"


#: Every kind, in the order pages and logs list them; a new course redacts all of them.
ALL_KINDS: frozenset[PiiKind] = frozenset(PiiKind)
#: What replaces an item of each kind.
PLACEHOLDERS: Mapping[PiiKind, str] = MappingProxyType(
    {
        PiiKind.EMAIL: "[email]",
        PiiKind.PHONE: "[phone]",
        PiiKind.ID_NUMBER: "[id]",
        PiiKind.ROSTER_NAME: "[name]",
    }
)
#: Limits of a roster (the course API refuses more).
MAX_ROSTER_NAMES = 500
MAX_NAME_CHARS = 100


def _no_kinds() -> Counter[str]:
    return Counter({kind.value: 0 for kind in PiiKind})


@dataclass(frozen=True)
class RedactionPolicy:
    """What to redact: the kinds, and the roster's names (for ``roster_name``). The default
    is the safe one: every kind, no roster. A stage never runs with no redaction unless a
    course owner turned every kind off."""

    kinds: frozenset[PiiKind] = ALL_KINDS
    roster_names: tuple[str, ...] = ()

    @classmethod
    def from_stored(cls, kinds: Iterable[str], roster_names: Iterable[str]) -> RedactionPolicy:
        """The policy a course row stores (``courses.redaction_kinds``, ``roster_names``):
        unknown kind names are ignored, names are cleaned (``clean_name``), blanks and
        repeats (in any letter case) dropped, order kept."""
        known = {kind.value: kind for kind in PiiKind}
        chosen = frozenset(known[k] for k in kinds if isinstance(k, str) and k in known)
        return cls(kinds=chosen, roster_names=clean_roster(roster_names))

    def redacts(self, kind: PiiKind) -> bool:
        return kind in self.kinds


def clean_name(name: str) -> str:
    """A roster name as stored: runs of whitespace made one space, ends stripped."""
    return " ".join(name.split())


def clean_roster(names: Iterable[str]) -> tuple[str, ...]:
    """Cleaned names, without blanks and without repeats (compared case-insensitively)."""
    seen: set[str] = set()
    kept: list[str] = []
    for raw in names:
        if not isinstance(raw, str):
            continue
        name = clean_name(raw)
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            kept.append(name)
    return tuple(kept)


@dataclass(frozen=True)
class RedactionCounts:
    """How many items of each kind were replaced (never what they were)."""

    by_kind: Mapping[str, int] = field(default_factory=lambda: MappingProxyType(_no_kinds()))

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass(frozen=True)
class RedactedTranscript:
    """A transcript after redaction, and what was replaced."""

    transcript: Transcript
    counts: RedactionCounts


@dataclass(frozen=True, order=True)
class Span:
    """Characters ``start`` .. ``end - 1`` of a text are an item of ``kind``."""

    start: int
    end: int
    kind: PiiKind


# --- e-mail addresses ------------------------------------------------------------------------

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_WRITTEN_EMAIL = re.compile(
    rf"(?<![\w.%+-])[a-z0-9][a-z0-9._%+-]*[ ]?@[ ]?{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,24}}(?![\w@])",
    re.IGNORECASE,
)
#: Top-level domains a spoken address may end in: common ones that are not English words
#: a speaker says after "dot" for another reason ("at", "in", "it", "me", "no" are left out).
_SPOKEN_TLDS = (
    "com|org|net|edu|gov|mil|io|co|uk|ca|au|de|fr|nl|es|ch|se|dk|fi|ie|nz|jp|cn|br|eu|pl|"
    "ru|sg|hk|kr|tw|za|mx|pt|gr|cz|info|biz|ai|dev|app"
)
_DOT = r"(?:\.|\s+dot\s+)"
_SPOKEN_EMAIL = re.compile(
    r"(?<![\w.@])"
    rf"(?P<local>[a-z0-9]+(?:(?:{_DOT}|\s+underscore\s+|[_+-])[a-z0-9]+)*)"
    r"\s+at\s+"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL})*){_DOT}(?:{_SPOKEN_TLDS})(?![\w@])",
    re.IGNORECASE,
)
_EMAIL_CUE = re.compile(
    r"\b(?:e-?mail(?:ed|ing|s)?|mail|write|wrote|contact|reach|address|send|message)\b",
    re.IGNORECASE,
)
#: How far before a spoken address its cue may be, in characters.
_CUE_WINDOW = 40
#: Words that start an ordinary phrase, never a spoken domain ("at the dot com boom").
_NOT_A_DOMAIN_WORDS = (
    "the a an this that these those my your our their his her its some any all most least "
    "first last one home work school night noon time which what it them"
)
_NOT_A_DOMAIN = frozenset(_NOT_A_DOMAIN_WORDS.split())


def _spoken_local_is_address(local: str) -> bool:
    return bool(re.search(r"\d|\s+dot\s+|\.|_|\s+underscore\s+|\+", local, re.IGNORECASE))


def _emails(text: str) -> Iterator[Span]:
    for found in _WRITTEN_EMAIL.finditer(text):
        yield Span(found.start(), found.end(), PiiKind.EMAIL)
    pos = 0
    while (spoken := _SPOKEN_EMAIL.search(text, pos)) is not None:
        domain_first = re.split(r"\.|\s+", spoken["domain"], maxsplit=1)[0].lower()
        cue = _EMAIL_CUE.search(text, max(0, spoken.start() - _CUE_WINDOW), spoken.start())
        if domain_first not in _NOT_A_DOMAIN and (
            _spoken_local_is_address(spoken["local"]) or cue is not None
        ):
            yield Span(spoken.start(), spoken.end(), PiiKind.EMAIL)
            pos = spoken.end()
        else:
            pos = spoken.start() + 1


# --- phone and ID numbers ------------------------------------------------------------------

#: Digits in groups: one separator (space, dash, dot, or a parenthesis with an optional
#: space) between groups, an optional "+" or "(" in front. Atomic, so a number followed by
#: a letter ("1990s", "12345678Z") is no candidate at all rather than a shorter one.
_GROUP_SEP = r"(?:[ .-]|[ .-]?\(|\)[ .-]?)"
_NUMBERISH = re.compile(
    rf"(?<![\w+])(?<!\d[.,:/])(?P<lead>\+ ?|\()?(?>\d+(?:{_GROUP_SEP}\d+)*)(?![\w%])"
)
_SSN = re.compile(r"(?<![\w.-])\d{3}-\d{2}-\d{4}(?![\w-])")
_LETTER_CODE = re.compile(
    r"(?<![\w-])(?:[a-z]{1,3}-?\d{5,12}[a-z]?|\d{6,12}[a-z])(?![\w-])", re.IGNORECASE
)
_CURRENCY = "$€£¥₹"
_DATE_YMD = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})")
_DATE_DMY = re.compile(r"(\d{1,2})[-./](\d{1,2})[-./](\d{2}|\d{4})")
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15
MIN_ID_DIGITS = 6
MAX_ID_DIGITS = 20


def _is_date(candidate: str) -> bool:
    if found := _DATE_YMD.fullmatch(candidate):
        month, day = int(found[2]), int(found[3])
        return 1 <= month <= 12 and 1 <= day <= 31
    if found := _DATE_DMY.fullmatch(candidate):
        a, b = int(found[1]), int(found[2])
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)
    return False


def _is_phone(candidate: str, lead: str | None) -> bool:
    """Whether a numeric candidate is a phone number (rules in the module docstring)."""
    groups = re.findall(r"\d+", candidate)
    digits = sum(len(g) for g in groups)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        return False
    if lead and lead.startswith("+"):
        return True
    if len(groups) == 1:
        return False  # unbroken digits: an ID-like number, not a phone
    separators = re.findall(r"\D+", candidate.lstrip("(+ "))
    plain = {sep.strip() or " " for sep in separators}
    has_parens = "(" in candidate or ")" in candidate
    if _is_date(candidate):
        return False
    if any(len(g) == 1 for g in groups[1:]):
        return False  # "1 2 3 4 5 6 7", an ISBN, an IP address
    if not has_parens:
        if all(len(g) == 4 and 1000 <= int(g) <= 2199 for g in groups):
            return False  # years
        if plain == {"."} and len(groups) == 2:
            return False  # a decimal number
        if plain == {"."} and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
            return False  # thousands: 1.000.000
        same_length = len(groups) == 2 and len(groups[0]) == len(groups[1])
        if plain == {"-"} and same_length and int(groups[1]) > int(groups[0]):
            return False  # a range: pages 2345-2400
        if plain == {" "} and len(groups[0]) == 1 and all(len(g) == 3 for g in groups[1:]):
            return False  # thousands: 1 000 000
        if all(len(g) <= 2 for g in groups) and not groups[0].startswith("0"):
            return False  # a list of small numbers: 10 20 30 40
    return True


def _id_like(text: str, start: int, end: int) -> bool:
    """Whether the unbroken digits ``text[start:end]`` are an ID-like number."""
    if not MIN_ID_DIGITS <= end - start <= MAX_ID_DIGITS:
        return False
    before = text[max(0, start - 2) : start].rstrip()
    if before.endswith(tuple(_CURRENCY)):
        return False  # an amount: $1500000
    if re.search(r"\d[.,]$", text[max(0, start - 2) : start]):
        return False  # the fraction of a decimal: 3.1415926
    # Not a decimal (123456.78) nor a percentage.
    return not (re.match(r"[.,]\d", text[end : end + 2]) or text[end : end + 1] == "%")


def _numbers(text: str) -> Iterator[Span]:
    for found in _SSN.finditer(text):
        yield Span(found.start(), found.end(), PiiKind.ID_NUMBER)
    for found in _LETTER_CODE.finditer(text):
        yield Span(found.start(), found.end(), PiiKind.ID_NUMBER)
    for found in _NUMBERISH.finditer(text):
        if _SSN.fullmatch(found[0]):
            continue  # an ID number (above), not a phone number
        if _is_phone(found[0], found["lead"]):
            yield Span(found.start(), found.end(), PiiKind.PHONE)
            continue
        for group in re.finditer(r"\d+", found[0]):
            start, end = found.start() + group.start(), found.start() + group.end()
            if _id_like(text, start, end):
                yield Span(start, end, PiiKind.ID_NUMBER)


# --- roster names --------------------------------------------------------------------------

#: Name particles never matched alone ("de" in "María de la Cruz").
_PARTICLE_WORDS = (
    "de del della der den di da das do dos du la le las los van von ter ten bin binti bint "
    "ibn al el y e st"
)
_PARTICLES = frozenset(_PARTICLE_WORDS.split())
#: Ordinary English words that are also names: matched alone only when capitalized.
_ORDINARY_NAME_WORDS = """
    a an and are as at be but by can do for go he her him his i if in is it me my no not of
    oh ok on or so the to up us we you all any art bay bell best bill black bliss bloom
    brook brown buck bush cash chance chase cherry clay cook crane dale dawn day dean don
    dove drew duke early east eve faith fields fisher ford fox frank free gay gene gold
    golden grace grant gray green grey guy hale hall hart hay heath heather herb hill holly
    hope house hunt hunter iris ivy jack jade jay joy june king knight lake lamb lane lee
    lily long love lucky mark marsh mason may mercy miles mill miller moon moss new north
    olive page park pat pearl penny pierce pine poll pool pope power price prince rain ray
    reed rich ridge river rob robin rock rose ruby rush rusty sage sandy savage sharp short
    sky small snow south spring star steel stone storm strong summer sunny swift tanner
    trim true victor wall ward warren wade wells west white wise wolf wood woods young will
    winter august april autumn
"""
_ORDINARY_WORDS = frozenset(_ORDINARY_NAME_WORDS.split())


_RIGHT_QUOTE = "\u2019"


def _fold(text: str) -> str:
    """``text`` without accents: ``José`` -> ``Jose``."""
    return "".join(
        c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)
    ).translate({ord(_RIGHT_QUOTE): "'"})


def _char_pattern(ch: str) -> str:
    if ch in ("'", _RIGHT_QUOTE):
        return "['\u2019]"
    base = _fold(ch)
    if base and base != ch:
        return f"[{re.escape(ch)}{re.escape(base)}]"
    return re.escape(ch)


def _name_pattern(name: str, *, capitalized: bool) -> str:
    """A regex for ``name``, accent-insensitive; ``capitalized``: the first letter must be
    upper case (the rest in any case); otherwise any case."""
    chars = [_char_pattern(ch) for ch in name]
    if not capitalized:
        return "(?i:" + "".join(chars) + ")"
    first = name[0]
    head = _char_pattern(first.upper()) if first.upper() != first.lower() else chars[0]
    return head + "(?i:" + "".join(chars[1:]) + ")"


def _parts(name: str) -> list[str]:
    return [p for p in re.split(r"[\s-]+", name) if p]


def _alone_rule(part: str) -> bool | None:
    """None: never matched alone; True: only capitalized; False: in any letter case."""
    folded = _fold(part).lower().strip("'.")
    letters = sum(ch.isalpha() for ch in part)
    if letters < 2 or folded in _PARTICLES:
        return None
    return folded in _ORDINARY_WORDS


@lru_cache(maxsize=256)
def _roster_regex(names: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for a roster: full names first (longest first), then lone parts."""
    alternatives: dict[str, int] = {}
    for name in names:
        parts = _parts(name)
        if not parts:
            continue
        if len(parts) > 1:
            full = r"[\s-]+".join(_name_pattern(p, capitalized=False) for p in parts)
            alternatives[full] = max(alternatives.get(full, 0), len(name) + 1000)
        for part in parts:
            rule = _alone_rule(part)
            if rule is None:
                continue
            alternatives[_name_pattern(part, capitalized=rule)] = len(part)
    if not alternatives:
        return None
    ordered = sorted(alternatives, key=lambda p: -alternatives[p])
    return re.compile(r"(?<!\w)(?:" + "|".join(ordered) + r")(?!\w)")


def _names(text: str, roster_names: tuple[str, ...]) -> Iterator[Span]:
    pattern = _roster_regex(roster_names)
    if pattern is None:
        return
    for found in pattern.finditer(text):
        yield Span(found.start(), found.end(), PiiKind.ROSTER_NAME)


# --- the redactor --------------------------------------------------------------------------

_PRIORITY = {kind: index for index, kind in enumerate(PiiKind)}


def find_spans(text: str, policy: RedactionPolicy) -> list[Span]:
    """The items of ``policy``'s kinds in ``text``, in order, none overlapping.

    Every kind is looked for, then overlaps are settled (the item that starts first wins,
    then the longer, then email > phone > id > name), and only then are the kinds the
    policy keeps dropped: a kept kind stays whole ("jane.doe@example.com" stays as it is
    when addresses are kept, even with "Jane Doe" on the roster)."""
    found: list[Span] = [*_emails(text), *_numbers(text), *_names(text, policy.roster_names)]
    found.sort(key=lambda s: (s.start, -(s.end - s.start), _PRIORITY[s.kind]))
    settled: list[Span] = []
    for span in found:
        if not settled or span.start >= settled[-1].end:
            settled.append(span)
    return [span for span in settled if policy.redacts(span.kind)]


def _replace(text: str, spans: list[Span]) -> str:
    out: list[str] = []
    last = 0
    for span in spans:
        out.append(text[last : span.start])
        out.append(PLACEHOLDERS[span.kind])
        last = span.end
    out.append(text[last:])
    return "".join(out)


class Redactor:
    """Applies one ``RedactionPolicy`` to texts and transcripts (build one per policy)."""

    def __init__(self, policy: RedactionPolicy) -> None:
        self.policy = policy

    def text(self, text: str) -> tuple[str, Counter[str]]:
        """``text`` with every item replaced by its placeholder, and the counts per kind."""
        spans = find_spans(text, self.policy)
        counts = _no_kinds()
        counts.update(span.kind.value for span in spans)
        return _replace(text, spans), counts

    def words(self, words: list[Word]) -> list[Word]:
        """The words with items replaced; an item over several words becomes one word that
        spans their times (the first word's leading space and the last word's trailing
        punctuation are kept: " [name]'s")."""
        if not words:
            return []
        joined: list[str] = []
        offsets: list[int] = []
        cursor = 0
        for index, word in enumerate(words):
            if index and word.word[:1] and not word.word[:1].isspace():
                joined.append(" ")  # words stored without their leading space
                cursor += 1
            offsets.append(cursor)
            joined.append(word.word)
            cursor += len(word.word)
        text = "".join(joined)
        spans = find_spans(text, self.policy)
        if not spans:
            return list(words)
        out: list[Word] = []
        index = 0
        for span in spans:
            while index < len(words) and offsets[index] + len(words[index].word) <= span.start:
                out.append(words[index])
                index += 1
            if index >= len(words):
                break
            first = last = index
            while last + 1 < len(words) and offsets[last + 1] < span.end:
                last += 1
            head = words[first].word[: max(0, span.start - offsets[first])]
            tail = words[last].word[max(0, span.end - offsets[last]) :]
            out.append(
                Word(
                    start=words[first].start,
                    end=max(words[last].end, words[first].start),
                    word=head + PLACEHOLDERS[span.kind] + tail,
                )
            )
            index = last + 1
        out.extend(words[index:])
        return out

    def segment(self, segment: Segment) -> tuple[Segment, Counter[str]]:
        text, counts = self.text(segment.text)
        words = self.words(segment.words)
        if text == segment.text and words == segment.words:
            return segment, counts
        return segment.model_copy(update={"text": text, "words": words}), counts

    def transcript(self, transcript: Transcript) -> RedactedTranscript:
        """The transcript with every segment redacted, and the counts per kind (counted in
        the segments' text)."""
        total = _no_kinds()
        segments: list[Segment] = []
        for segment in transcript.segments:
            redacted, counts = self.segment(segment)
            segments.append(redacted)
            total.update(counts)
        return RedactedTranscript(
            transcript=transcript.model_copy(update={"segments": segments}),
            counts=RedactionCounts(MappingProxyType(dict(total))),
        )


def redact_transcript(transcript: Transcript, policy: RedactionPolicy) -> RedactedTranscript:
    """``Redactor(policy).transcript(transcript)``."""
    return Redactor(policy).transcript(transcript)
