"""Word error rate: the one text normalisation and word alignment ``eval.asr`` uses for
both the reference and the hypothesis (``normalize``, ``align``, ``word_errors``)."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MANIFEST: Final = Path(__file__).parent / "speech" / "recordings.yaml"
DEFAULT_INDEX: Final = "https://pypi.org/simple/"
DEFAULT_MODEL: Final = "tiny.en"
KNOWN_MODELS: Final = ("tiny.en", "base")

# --- text normalisation and alignment ----------------------------------------------------

# fmt: off
_ONES: Final = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)
_TENS: Final = (
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
)
# fmt: on
_SCALES: Final = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINALS: Final = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_ABBREVIATIONS: Final = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
_FILLERS: Final = frozenset({"uh", "um", "umm", "uhm", "er", "erm", "hmm", "mm", "mhm"})
_APOSTROPHES: Final = "\u2018\u2019\u02bc\u0060\u00b4"
_DECIMAL: Final = re.compile(r"(\d)\.(\d+)")
_THOUSANDS: Final = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ORDINAL: Final = re.compile(r"^(\d+)(st|nd|rd|th)$")


def number_words(n: int) -> list[str]:
    """``n`` (0 to 10**15 - 1) in English words, without "and": 121 -> one hundred twenty one."""
    if n < 0 or n >= 10**15:
        raise ValueError(f"{n} is out of range")
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10], *([_ONES[n % 10]] if n % 10 else [])]
    if n < 1000:
        return [_ONES[n // 100], "hundred", *(number_words(n % 100) if n % 100 else [])]
    for scale, name in _SCALES:
        if n >= scale:
            rest = n % scale
            return [*number_words(n // scale), name, *(number_words(rest) if rest else [])]
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> list[str]:
    """``n`` as an ordinal in words: 21 -> twenty first, 40 -> fortieth."""
    *head, last = number_words(n)
    if last in _ORDINALS:
        last = _ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return [*head, last]


def _token_words(token: str) -> list[str]:
    token = _ABBREVIATIONS.get(token, token)
    if token in _FILLERS:
        return []
    if token.isascii() and token.isdigit() and len(token) <= 15:
        return number_words(int(token))
    ordinal = _ORDINAL.match(token)
    if ordinal and len(ordinal[1]) <= 15:
        return ordinal_words(int(ordinal[1]))
    return [token]


def normalize(text: str) -> list[str]:
    """The words of ``text`` as WER compares them (applied to reference and hypothesis alike).

    Unicode NFKC and lower case; digit groups ("1,000") joined and decimals read out ("2.5"
    -> "2 point 5"); "%" -> "percent"; apostrophes removed, so contractions and possessives
    stay one word without being expanded ("don't" -> "dont", "beauty's" -> "beautys");
    every other punctuation mark, hyphens included, separates words ("self-love" -> "self
    love"); "mr", "mrs", "dr" spelled out; the fillers "uh", "um", "er", "hmm" (and
    spellings of them) dropped; numbers in digits spelled out as cardinals ("10" -> "ten",
    "1961" -> "one thousand nine hundred sixty one") and ordinals ("21st" -> "twenty
    first"). Spelling variants (British/American) are not merged.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    for mark in _APOSTROPHES:
        text = text.replace(mark, "'")
    text = _THOUSANDS.sub("", text)
    text = _DECIMAL.sub(lambda m: f"{m[1]} point {' '.join(m[2])}", text)
    text = text.replace("%", " percent ").replace("'", "")
    text = re.sub(r"[\W_]+", " ", text)
    return [word for token in text.split() for word in _token_words(token)]


class Op(enum.Enum):
    MATCH = "="
    SUBSTITUTION = "S"
    DELETION = "D"
    INSERTION = "I"


@dataclass(frozen=True)
class Edit:
    op: Op
    reference: str | None
    hypothesis: str | None


@dataclass(frozen=True)
class Errors:
    """Word errors against a reference of ``words`` words; adds up across recordings."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    words: int = 0

    @property
    def total(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """(S + D + I) / N; undefined (ValueError) for an empty reference."""
        if self.words == 0:
            raise ValueError("word error rate of an empty reference")
        return self.total / self.words

    def __add__(self, other: Errors) -> Errors:
        return Errors(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.words + other.words,
        )

    @classmethod
    def of(cls, edits: Iterable[Edit]) -> Errors:
        counts = dict.fromkeys(Op, 0)
        for edit in edits:
            counts[edit.op] += 1
        return cls(
            substitutions=counts[Op.SUBSTITUTION],
            deletions=counts[Op.DELETION],
            insertions=counts[Op.INSERTION],
            words=counts[Op.MATCH] + counts[Op.SUBSTITUTION] + counts[Op.DELETION],
        )


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> list[Edit]:
    """A minimum-edit (Levenshtein) alignment of two word sequences, in reading order.

    Among the alignments with the fewest edits it takes one with the fewest substitutions,
    that is the most words matched ("the cat sat on the mat" / "the cat sit on mat please":
    sat>sit, the deleted, please inserted; not three substitutions). The error count is the
    same either way.
    """
    rows, cols = len(reference), len(hypothesis)
    # best[i][j]: (edits, substitutions) to turn reference[:i] into hypothesis[:j]
    best = [[(0, 0)] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows + 1):
        best[i][0] = (i, 0)
    for j in range(cols + 1):
        best[0][j] = (j, 0)

    def diagonal(i: int, j: int) -> tuple[int, int]:
        edits, substitutions = best[i - 1][j - 1]
        differ = reference[i - 1] != hypothesis[j - 1]
        return edits + differ, substitutions + differ

    def deletion(i: int, j: int) -> tuple[int, int]:
        return best[i - 1][j][0] + 1, best[i - 1][j][1]

    def insertion(i: int, j: int) -> tuple[int, int]:
        return best[i][j - 1][0] + 1, best[i][j - 1][1]

    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            best[i][j] = min(diagonal(i, j), deletion(i, j), insertion(i, j))
    edits: list[Edit] = []
    i, j = rows, cols
    while i or j:
        if i and j and best[i][j] == diagonal(i, j):
            same = reference[i - 1] == hypothesis[j - 1]
            op = Op.MATCH if same else Op.SUBSTITUTION
            edits.append(Edit(op, reference[i - 1], hypothesis[j - 1]))
            i, j = i - 1, j - 1
        elif i and best[i][j] == deletion(i, j):
            edits.append(Edit(Op.DELETION, reference[i - 1], None))
            i -= 1
        else:
            edits.append(Edit(Op.INSERTION, None, hypothesis[j - 1]))
            j -= 1
    edits.reverse()
    return edits


def word_errors(reference: str, hypothesis: str) -> Errors:
    """Word errors of ``hypothesis`` against ``reference``, both normalised."""
    return Errors.of(align(normalize(reference), normalize(hypothesis)))
