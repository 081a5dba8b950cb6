"""The Markdown export: study notes a learner can read, print or paste into a notes app."""

from __future__ import annotations

import re

from pegasus.studykit.schemas import Chapter, Flashcard, KeyTerm, QuizItem, StudyKit
from pegasus.transcription.schemas import Transcript

# Characters that would turn a learner's words into emphasis, links, code, HTML or tables.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")

#: Letters that name a quiz item's four options.
OPTION_LETTERS = "ABCD"


def render_markdown(title: str, transcript: Transcript, kit: StudyKit | None) -> str:
    """Title and duration, then Summary, Chapters, Notes, Key terms, Flashcards, Quiz, Answer
    key and Transcript sections, each only when it has something in it."""
    duration = transcript.duration_seconds or max((s.end for s in transcript.segments), default=0)
    lines = [f"# {escape(title.strip()) or 'Untitled lecture'}", ""]
    lines += [f"**Duration:** {clock(duration)} · **Language:** {escape(transcript.language)}", ""]
    if kit is not None:
        lines += _summary(kit)
        lines += _chapters(kit.chapters)
        lines += _notes(kit)
        lines += _key_terms(kit.key_terms)
        lines += _flashcards(kit.flashcards)
        lines += _quiz(kit.quiz)
    paragraphs = [
        f"**[{clock(s.start)}]** {escape(_one_line(s.text))}"
        for s in transcript.segments
        if s.text.strip()
    ]
    if paragraphs:
        lines += ["## Transcript", ""]
        for paragraph in paragraphs:
            lines += [paragraph, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _summary(kit: StudyKit) -> list[str]:
    if not kit.summary:
        return []
    return [
        "## Summary",
        "",
        *(f"- {escape(s.text)} [{clock(s.start)}]" for s in kit.summary),
        "",
    ]


def _chapters(chapters: list[Chapter]) -> list[str]:
    if not chapters:
        return []
    return [
        "## Chapters",
        "",
        *(
            f"{c.index + 1}. {escape(_one_line(c.title))} [{time_range(c.start, c.end)}]"
            for c in chapters
        ),
        "",
    ]


def _notes(kit: StudyKit) -> list[str]:
    if not kit.notes:
        return []
    starts = {c.index: c.start for c in kit.chapters}
    lines = ["## Notes", ""]
    for section in kit.notes:
        start = starts.get(section.chapter)
        if start is None and section.bullets:
            start = section.bullets[0].source.start
        when = f" [{clock(start)}]" if start is not None else ""
        lines += [f"### {escape(_one_line(section.heading))}{when}", ""]
        lines += [
            f"- {escape(_one_line(b.text))} [{clock(b.source.start)}]" for b in section.bullets
        ]
        lines.append("")
    return lines


def _key_terms(terms: list[KeyTerm]) -> list[str]:
    if not terms:
        return []
    lines = ["## Key terms", ""]
    for term in terms:
        meaning = term.definition or term.context
        start = term.source.start if term.source is not None else term.first_start
        lines.append(f"- **{escape(term.term)}** [{clock(start)}] — {escape(_one_line(meaning))}")
    lines.append("")
    return lines


def _flashcards(cards: list[Flashcard]) -> list[str]:
    if not cards:
        return []
    lines = ["## Flashcards", ""]
    for n, card in enumerate(cards, start=1):
        lines.append(f"{n}. **Q:** {escape(_one_line(card.front))}")
        lines.append(
            f"{_under(n)}- **A:** {escape(_one_line(card.back))} "
            f"[{time_range(card.source.start, card.source.end)}]"
        )
    lines.append("")
    return lines


def _quiz(items: list[QuizItem]) -> list[str]:
    if not items:
        return []
    lines = ["## Quiz", ""]
    for n, item in enumerate(items, start=1):
        lines.append(f"{n}. {escape(_one_line(item.question))} [{clock(item.source.start)}]")
        lines += [
            f"{_under(n)}- **{letter}.** {escape(_one_line(option))}"
            for letter, option in zip(OPTION_LETTERS, item.options, strict=True)
        ]
    lines += ["", "## Answer key", ""]
    for n, item in enumerate(items, start=1):
        letter = OPTION_LETTERS[item.answer_index]
        answer = escape(_one_line(item.options[item.answer_index]))
        lines.append(f"{n}. **{letter}** ({answer}) — {escape(_one_line(item.explanation))}")
    lines.append("")
    return lines


def _under(n: int) -> str:
    """The indent that nests a list under item ``n.`` of an ordered list (CommonMark: the
    width of its marker, so "10. " needs four spaces where "9. " needs three)."""
    return " " * len(f"{n}. ")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def escape(text: str) -> str:
    """``text`` with Markdown's inline syntax characters backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", text)


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def time_range(start: float, end: float) -> str:
    """``mm:ss`` to ``mm:ss``, an en dash between."""
    return f"{clock(start)}\u2013{clock(end)}"
