"""Reduce: the windows' answers merged into one study kit, without another model call.

Items are deduplicated, capped to the preset's counts (spread evenly over the lecture) and
quote the transcript verbatim: every ``source`` is rebuilt from the segments the cited times
overlap, and items citing times outside the transcript are dropped. Chapters are the
proposed sections merged so they tile the timeline from 0 to the end; notes are their
bullets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

from pydantic import ValidationError

from pegasus.errors import LlmInvalidOutputError
from pegasus.presets import Preset
from pegasus.studykit.llm_schemas import MapAnswer, Term, describe
from pegasus.studykit.llm_windows import Timeline, Window
from pegasus.studykit.schemas import (
    Chapter,
    Flashcard,
    KeyTerm,
    NoteBullet,
    NoteSection,
    QuizItem,
    Span,
    StudyKit,
    SummarySentence,
)

GENERATOR_NAME = "llm"
#: Proposed chapters starting closer than this to the previous one are merged into it.
MIN_CHAPTER_SECONDS = 5.0

T = TypeVar("T")


def empty_kit(preset: Preset) -> StudyKit:
    """The kit of a preset that wants nothing generated, or of a silent transcript."""
    return StudyKit(preset=preset.key, generator=GENERATOR_NAME, summary=[], key_terms=[])


def reduce_answers(
    timeline: Timeline,
    windows: list[Window],
    answers: list[MapAnswer],
    preset: Preset,
    *,
    host: str,
    model: str,
) -> StudyKit:
    """The kit ``preset`` wants from the windows' ``answers`` (one per window, in order)."""
    chapters, notes = _chapters_and_notes(timeline, windows, answers)
    try:
        return StudyKit(
            preset=preset.key,
            generator=GENERATOR_NAME,
            summary=_summary(timeline, answers, preset),
            key_terms=_key_terms(timeline, answers, preset),
            chapters=chapters if preset.wants("chapters") else [],
            notes=notes if preset.wants("notes") else [],
            flashcards=_flashcards(timeline, answers, preset),
            quiz=_quiz(timeline, answers, preset),
        )
    except ValidationError as exc:  # a bug here, not the model's: still never a bad kit
        raise LlmInvalidOutputError(
            f"The study kit made from the answers of the model at {host} is not "
            f"valid: {describe(exc)}. Switch to the offline generator.",
            host=host,
            model=model,
        ) from exc


def _spread(groups: Sequence[Sequence[T]], cap: int) -> list[T]:
    """Up to ``cap`` items taken rank by rank across the groups, spread evenly over them."""
    picked: list[T] = []
    rank = 0
    while len(picked) < cap:
        available = [group[rank] for group in groups if len(group) > rank]
        if not available:
            break
        need = cap - len(picked)
        if len(available) > need:
            available = [available[int((i + 0.5) * len(available) / need)] for i in range(need)]
        picked.extend(available)
        rank += 1
    return picked


def _stable_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\n".join(p.strip().casefold() for p in parts).encode()).hexdigest()
    return f"{prefix}-{digest[:16]}"


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _summary(timeline: Timeline, answers: list[MapAnswer], preset: Preset) -> list[SummarySentence]:
    if not preset.wants("summary"):
        return []
    groups: list[list[SummarySentence]] = []
    for answer in answers:
        group = []
        for point in answer.summary_points:
            span = timeline.span(point.start, point.end)
            if span is not None:
                group.append(
                    SummarySentence(text=point.text.strip(), start=span.start, end=span.end)
                )
        groups.append(group)
    return sorted(_spread(groups, preset.summary_sentences), key=lambda s: s.start)


def _key_terms(timeline: Timeline, answers: list[MapAnswer], preset: Preset) -> list[KeyTerm]:
    if not preset.wants("key_terms"):
        return []
    # The earliest explanation of each term (case-insensitive) wins, wherever it was found.
    earliest: dict[str, tuple[float, int, int, Term, Span]] = {}
    for w, answer in enumerate(answers):
        for rank, term in enumerate(answer.key_terms):
            span = timeline.span(term.start, term.end)
            key = _key(term.term)
            if span is None or not key:
                continue
            if key not in earliest or span.start < earliest[key][0]:
                earliest[key] = (span.start, w, rank, term, span)
    groups: list[list[tuple[Term, Span]]] = [[] for _ in answers]
    for _, w, _, term, span in sorted(earliest.values(), key=lambda e: (e[1], e[2])):
        groups[w].append((term, span))
    picked = _spread(groups, preset.key_term_count)
    return [
        KeyTerm(
            term=term.term.strip(),
            occurrences=max(1, timeline.occurrences(term.term)),
            score=round(1 - i / len(picked), 4),
            first_start=span.start,
            first_end=span.end,
            context=span.text,
            definition=term.definition.strip(),
            source=span,
        )
        for i, (term, span) in enumerate(picked)
    ]


def _flashcards(timeline: Timeline, answers: list[MapAnswer], preset: Preset) -> list[Flashcard]:
    if not preset.wants("flashcards"):
        return []
    seen: set[tuple[str, str]] = set()
    groups: list[list[Flashcard]] = []
    for answer in answers:
        group = []
        for card in answer.flashcards:
            span = timeline.span(card.start, card.end)
            key = (card.kind, _key(card.front))
            if span is None or key in seen or (card.kind == "cloze" and "{{c1::" not in card.front):
                continue
            seen.add(key)
            group.append(
                Flashcard(
                    id=_stable_id("card", card.kind, card.front),
                    kind=card.kind,
                    front=card.front.strip(),
                    back=card.back.strip(),
                    source=span,
                )
            )
        groups.append(group)
    return sorted(_spread(groups, preset.flashcard_count), key=lambda c: c.source.start)


def _quiz(timeline: Timeline, answers: list[MapAnswer], preset: Preset) -> list[QuizItem]:
    if not preset.wants("quiz"):
        return []
    seen: set[str] = set()
    groups: list[list[QuizItem]] = []
    for answer in answers:
        group = []
        for item in answer.quiz:
            span = timeline.span(item.start, item.end)
            key = _key(item.question)
            if span is None or key in seen:
                continue
            seen.add(key)
            group.append(
                QuizItem(
                    id=_stable_id("quiz", item.question),
                    question=item.question.strip(),
                    options=[option.strip() for option in item.options],
                    answer_index=item.answer_index,
                    explanation=item.explanation.strip(),
                    source=span,
                )
            )
        groups.append(group)
    return sorted(_spread(groups, preset.quiz_count), key=lambda q: q.source.start)


def _chapters_and_notes(
    timeline: Timeline, windows: list[Window], answers: list[MapAnswer]
) -> tuple[list[Chapter], list[NoteSection]]:
    """Proposed sections merged into chapters that tile [0, end], and their notes."""
    if timeline.end <= 0:
        return [], []
    proposed: list[tuple[float, str, list[NoteBullet]]] = []
    for window, answer in zip(windows, answers, strict=True):
        for section in answer.sections:
            start = timeline.snap(section.start, window.start, window.end)
            bullets = []
            for bullet in section.bullets:
                span = timeline.span(bullet.start, bullet.end)
                if span is not None:
                    bullets.append(NoteBullet(text=bullet.text.strip(), source=span))
            proposed.append((start, section.title.strip(), bullets))
    proposed.sort(key=lambda p: p[0])
    merged: list[tuple[float, str, list[NoteBullet]]] = []
    for start, title, bullets in proposed:
        if not merged:
            merged.append((0.0, title, bullets))
        elif start - merged[-1][0] < MIN_CHAPTER_SECONDS or start >= timeline.end:
            merged[-1][2].extend(bullets)
        else:
            merged.append((start, title, bullets))
    ends = [start for start, _, _ in merged[1:]] + [timeline.end]
    chapters = [
        Chapter(index=i, title=title, start=start, end=end)
        for i, ((start, title, _), end) in enumerate(zip(merged, ends, strict=True))
    ]
    notes = [
        NoteSection(chapter=i, heading=title, bullets=bullets)
        for i, (_, title, bullets) in enumerate(merged)
        if bullets
    ]
    return chapters, notes
