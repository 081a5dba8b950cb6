"""Make a study kit with a language model behind any OpenAI-compatible chat-completions API.

Map-reduce: the transcript is cut into windows (``window_seconds`` long, and small enough
that no prompt exceeds ``max_context_chars``); each window is asked for the parts the preset
wants (map); the answers are merged, deduplicated and capped here, without another call
(reduce). Chapters are the topic sections the model proposes, merged so they tile the
timeline from 0 to the end; notes are those sections' bullets.

The model cites times, never text: every item's ``source`` is rebuilt from the transcript
segments its times overlap, so its text is verbatim transcript; items whose times fall
outside the transcript are dropped. An answer that is not JSON or not the asked shape is
asked for once more with the error, then fails with ``LlmInvalidOutputError``; 429, 5xx,
timeouts and connection errors are retried with backoff, then fail with
``LlmUnavailableError``. The API key is sent only in the Authorization header, never logged.
What the provider says about a refused request is logged (every encoding of the key
masked) and never put in the error's message, which learners may see.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pegasus.errors import ConfigError, GenerationError
from pegasus.presets import Preset
from pegasus.redaction import redact
from pegasus.studykit.llm_prompts import (
    RETRY_ERROR_CHARS,
    RETRY_NOTE,
    MapAsk,
    format_line,
    map_messages,
    prompt_chars,
    retry_message,
)
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
from pegasus.transcription.schemas import Segment, Transcript

GENERATOR_NAME = "llm"
#: Backoff before retry n (0-based): min(cap, base * 2**n) plus up to ``base`` of jitter.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
#: A Retry-After longer than this is cut to it: a worker should not sleep for an hour.
MAX_RETRY_AFTER_SECONDS = 120.0
#: Fewer transcript characters than this per window leaves no room for a lecture.
MIN_WINDOW_CHARS = 500
#: A cited range must overlap a segment by more than this (seconds) to quote it; absorbs the
#: rounding of the times shown to the model.
OVERLAP_EPSILON = 0.05
#: The most consecutive segments one item's source quotes.
MAX_SPAN_SEGMENTS = 3
#: Proposed chapters starting closer than this to the previous one are merged into it.
MIN_CHAPTER_SECONDS = 5.0
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


class LlmUnavailableError(GenerationError):
    """The study-kit model did not answer; retry later or switch to the offline generator."""

    code = "generation.llm_unavailable"
    transient = False


class LlmInvalidOutputError(GenerationError):
    """The study-kit model answered with something that is not a valid study kit."""

    code = "generation.invalid_output"


@dataclasses.dataclass(frozen=True)
class LlmConfig:
    """Where the model is and how patiently to talk to it."""

    base_url: str
    model: str
    api_key: str | None = dataclasses.field(repr=False)
    timeout_seconds: float = 60
    max_retries: int = 3
    window_seconds: float = 600
    max_context_chars: int = 24000


# --- the shape asked of the model ----------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Timed(_Answer):
    start: float
    end: float


class _Point(_Timed):
    text: str = Field(min_length=1)


class _Section(_Answer):
    title: str = Field(min_length=1)
    start: float
    bullets: list[_Point] = Field(default_factory=list)


class _Term(_Timed):
    term: str = Field(min_length=1)
    definition: str = ""


class _Card(_Timed):
    kind: Literal["definition", "cloze"]
    front: str = Field(min_length=1)
    back: str = Field(min_length=1)


class _Question(_Timed):
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=4, max_length=4)
    answer_index: int = Field(ge=0, le=3)
    explanation: str = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_options(self) -> _Question:
        normalized = [option.strip().lower() for option in self.options]
        if len(set(normalized)) != len(normalized) or not all(normalized):
            raise ValueError("quiz options must be four different, non-empty answers")
        return self


class _MapAnswer(_Answer):
    summary_points: list[_Point] = Field(default_factory=list)
    sections: list[_Section] = Field(default_factory=list)
    key_terms: list[_Term] = Field(default_factory=list)
    flashcards: list[_Card] = Field(default_factory=list)
    quiz: list[_Question] = Field(default_factory=list)


# --- windows and spans ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Window:
    index: int
    start: float
    end: float
    lines: tuple[str, ...]


class _Timeline:
    """The transcript's spoken segments, and how cited times map back to their text."""

    def __init__(self, transcript: Transcript) -> None:
        self.segments: list[Segment] = sorted(
            (s for s in transcript.segments if s.text.strip()), key=lambda s: (s.start, s.end)
        )
        last_end = max((s.end for s in self.segments), default=0.0)
        self.end = max(transcript.duration_seconds, last_end)
        self.text = transcript.text

    def span(self, start: float, end: float) -> Span | None:
        """The verbatim transcript span the cited range covers; None when it covers none."""
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            return None
        if start > self.end + OVERLAP_EPSILON:
            return None
        hits = [
            i
            for i, s in enumerate(self.segments)
            if min(s.end, end) - max(s.start, start) > OVERLAP_EPSILON
        ]
        if not hits:  # a point or a tiny range: the segment it lies in
            middle = (start + end) / 2
            hits = [
                i
                for i, s in enumerate(self.segments)
                if s.start - OVERLAP_EPSILON <= middle <= s.end + OVERLAP_EPSILON
            ][:1]
        if not hits:
            return None
        quoted = self.segments[hits[0] : min(hits[-1], hits[0] + MAX_SPAN_SEGMENTS - 1) + 1]
        return Span(
            start=quoted[0].start,
            end=quoted[-1].end,
            text=" ".join(s.text.strip() for s in quoted),
        )

    def snap(self, time_: float, low: float, high: float) -> float:
        """``time_`` clamped to [low, high] and moved back to the start of its segment."""
        clamped = min(max(time_, low), high)
        for s in self.segments:
            if s.end > clamped:
                return max(s.start, low) if s.start <= clamped else clamped
        return clamped

    def occurrences(self, term: str) -> int:
        pattern = r"(?<!\w)" + re.escape(term.strip()) + r"(?!\w)"
        return len(re.findall(pattern, self.text, flags=re.IGNORECASE))

    def windows(self, window_seconds: float, budget: int) -> list[_Window]:
        """Consecutive windows of at most ``window_seconds`` and ``budget`` line characters."""
        groups: list[list[str]] = []
        starts: list[float] = []
        used = 0
        for s in self.segments:
            line = format_line(s.start, s.end, s.text.strip())[:budget]
            anchor = starts[-1] if starts else 0.0
            fits = bool(groups) and used + len(line) + 1 <= budget
            if not groups or not fits or s.start >= anchor + window_seconds:
                groups.append([])
                starts.append(s.start if groups[:-1] else 0.0)
                used = 0
            groups[-1].append(line)
            used += len(line) + 1
        ends = [*starts[1:], self.end]
        return [
            _Window(index=i, start=starts[i], end=ends[i], lines=tuple(lines))
            for i, lines in enumerate(groups)
        ]


T = TypeVar("T")


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


# --- the generator --------------------------------------------------------------------------


class LlmGenerator:
    """Study kits from an OpenAI-compatible chat-completions endpoint (see the module doc)."""

    def __init__(
        self,
        config: LlmConfig,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(config.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                "The LLM base URL must be an http(s) URL such as https://api.example.com/v1.",
                base_url=config.base_url,
            )
        if config.max_retries < 0 or config.timeout_seconds <= 0 or config.window_seconds <= 0:
            raise ConfigError(
                "LLM max_retries must be 0 or more; timeout_seconds and window_seconds above 0."
            )
        self.config = config
        self.host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._client = client
        self._sleep = sleep
        # Per instance, not per module: a logger cached before logging was configured would
        # keep writing to the old destination.
        self._log = structlog.get_logger(__name__)
        everything = MapAsk(
            summary_points=99, sections=True, bullets=True, key_terms=99, flashcards=99, quiz=99
        )
        if self._line_budget(everything) < MIN_WINDOW_CHARS:
            raise ConfigError(
                f"LLM max_context_chars={config.max_context_chars} leaves no room for the "
                "transcript next to the instructions; raise it.",
            )

    def generate(self, transcript: Transcript, preset: Preset) -> StudyKit:
        """The parts of the kit ``preset`` wants, made by the model from ``transcript``."""
        timeline = _Timeline(transcript)
        if not self._ask(preset).anything:
            return StudyKit(preset=preset.key, generator=GENERATOR_NAME, summary=[], key_terms=[])
        budget = self._line_budget(self._ask(preset))
        windows = timeline.windows(self.config.window_seconds, budget)
        if not windows:
            return StudyKit(preset=preset.key, generator=GENERATOR_NAME, summary=[], key_terms=[])
        ask = self._ask(preset, len(windows))
        self._log.info(
            "studykit.llm.started",
            host=self.host,
            model=self.config.model,
            preset=preset.key,
            windows=len(windows),
        )
        started = time.monotonic()
        if self._client is not None:
            answers = [self._map(self._client, w, len(windows), ask) for w in windows]
        else:
            with httpx.Client(timeout=self.config.timeout_seconds) as client:
                answers = [self._map(client, w, len(windows), ask) for w in windows]
        kit = self._reduce(timeline, windows, answers, preset)
        self._log.info(
            "studykit.llm.finished",
            host=self.host,
            model=self.config.model,
            windows=len(windows),
            seconds=round(time.monotonic() - started, 3),
        )
        return kit

    # --- map ---------------------------------------------------------------------------------

    @staticmethod
    def _ask(preset: Preset, windows: int = 1) -> MapAsk:
        def share(count: int, wanted: str, slack: int) -> int:
            if not preset.wants(wanted) or count <= 0:
                return 0
            return math.ceil(count / windows) + (slack if windows > 1 else 0)

        return MapAsk(
            summary_points=share(preset.summary_sentences, "summary", 0),
            sections=preset.wants("chapters") or preset.wants("notes"),
            bullets=preset.wants("notes"),
            key_terms=share(preset.key_term_count, "key_terms", 1),
            flashcards=share(preset.flashcard_count, "flashcards", 1),
            quiz=share(preset.quiz_count, "quiz", 1),
        )

    def _line_budget(self, ask: MapAsk) -> int:
        """Characters left for transcript lines once instructions and a retry note fit."""
        # The widest numbers any window of any lecture may show in these instructions.
        ask = dataclasses.replace(
            ask,
            summary_points=999 if ask.summary_points else 0,
            key_terms=999 if ask.key_terms else 0,
            flashcards=999 if ask.flashcards else 0,
            quiz=999 if ask.quiz else 0,
        )
        widest = map_messages(lines=[], part=99999, parts=99999, start=1e7, end=1e7, ask=ask)
        retry = len(RETRY_NOTE) + RETRY_ERROR_CHARS
        return self.config.max_context_chars - prompt_chars(widest) - retry

    def _map(self, client: httpx.Client, window: _Window, parts: int, ask: MapAsk) -> _MapAnswer:
        messages = map_messages(
            lines=list(window.lines),
            part=window.index,
            parts=parts,
            start=window.start,
            end=window.end,
            ask=ask,
        )
        problem = ""
        for attempt in range(2):
            asked = [*messages, retry_message(problem)] if attempt else messages
            content = self._chat(client, asked)
            try:
                answer = _MapAnswer.model_validate(json.loads(content))
            except json.JSONDecodeError as exc:
                problem = f"the answer is not JSON ({exc.msg} at character {exc.pos})"
            except ValidationError as exc:
                problem = "the JSON does not have the asked shape: " + _describe(exc)
            else:
                if ask.sections and not answer.sections:
                    problem = '"sections" must list at least one section'
                else:
                    return answer
            self._log.warning(
                "studykit.llm.invalid_output",
                host=self.host,
                part=window.index + 1,
                attempt=attempt + 1,
                problem=problem[:300],
            )
        raise LlmInvalidOutputError(
            f"The study-kit model at {self.host} twice answered part {window.index + 1} of "
            f"{parts} of the lecture with output that is not a valid study kit ({problem}). "
            "Try another model or switch to the offline generator.",
            host=self.host,
            model=self.config.model,
            part=window.index + 1,
        )

    def _chat(self, client: httpx.Client, messages: list[dict[str, str]]) -> str:
        """The model's answer text; retries 429, 5xx, timeouts and connection errors."""
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        headers = {"Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        attempts = self.config.max_retries + 1
        problem = ""
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = client.post(
                    self._url, json=body, headers=headers, timeout=self.config.timeout_seconds
                )
            except httpx.TimeoutException:
                problem = f"no answer within {self.config.timeout_seconds:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed: {type(exc).__name__}"
            else:
                status = response.status_code
                if status == 200:
                    return self._content(response)
                if status not in _RETRYABLE_STATUS and status < 500:
                    # The provider's words go to the operator's log only (redacted): they may
                    # echo the key or the prompt, and learners see the error's message.
                    self._log.warning(
                        "studykit.llm.refused",
                        host=self.host,
                        status=status,
                        response=self._redact(response.text),
                    )
                    raise LlmUnavailableError(
                        f"The study-kit model at {self.host} refused the request "
                        f"(HTTP {status}). Check the LLM base URL, model and key, "
                        "or switch to the offline generator.",
                        host=self.host,
                        model=self.config.model,
                        status=status,
                    )
                problem = f"HTTP {status}"
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if attempt + 1 == attempts:
                break
            delay = retry_after if retry_after is not None else _backoff(attempt)
            self._log.warning(
                "studykit.llm.retrying",
                host=self.host,
                problem=problem,
                attempt=attempt + 1,
                delay_seconds=round(delay, 3),
            )
            self._sleep(delay)
        raise LlmUnavailableError(
            f"The study-kit model at {self.host} did not answer after {attempts} "
            f"attempt{'s' if attempts > 1 else ''} (last: {problem}); retry later or switch to "
            "the offline generator.",
            host=self.host,
            model=self.config.model,
        )

    def _content(self, response: httpx.Response) -> str:
        """The first choice's message content, or an invalid-JSON marker the caller rejects."""
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError):
            return "<the response is not an OpenAI chat completion>"
        return content if isinstance(content, str) else "<the message has no text content>"

    def _redact(self, text: str) -> str:
        """Provider text for a log line: every encoding of the key masked, then shortened."""
        return redact(text.strip(), [self.config.api_key])[:500]

    # --- reduce ------------------------------------------------------------------------------

    def _reduce(
        self,
        timeline: _Timeline,
        windows: list[_Window],
        answers: list[_MapAnswer],
        preset: Preset,
    ) -> StudyKit:
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
                f"The study kit made from the answers of the model at {self.host} is not "
                f"valid: {_describe(exc)}. Switch to the offline generator.",
                host=self.host,
                model=self.config.model,
            ) from exc


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    described = [
        f"{'.'.join(str(p) for p in error['loc']) or 'top level'}: {error['msg']}"
        for error in errors[:5]
    ]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(described) + more


def _backoff(attempt: int) -> float:
    exponential = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**attempt)
    return exponential + random.uniform(0, BACKOFF_BASE_SECONDS)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _summary(
    timeline: _Timeline, answers: list[_MapAnswer], preset: Preset
) -> list[SummarySentence]:
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


def _key_terms(timeline: _Timeline, answers: list[_MapAnswer], preset: Preset) -> list[KeyTerm]:
    if not preset.wants("key_terms"):
        return []
    # The earliest explanation of each term (case-insensitive) wins, wherever it was found.
    earliest: dict[str, tuple[float, int, int, _Term, Span]] = {}
    for w, answer in enumerate(answers):
        for rank, term in enumerate(answer.key_terms):
            span = timeline.span(term.start, term.end)
            key = _key(term.term)
            if span is None or not key:
                continue
            if key not in earliest or span.start < earliest[key][0]:
                earliest[key] = (span.start, w, rank, term, span)
    groups: list[list[tuple[_Term, Span]]] = [[] for _ in answers]
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


def _flashcards(timeline: _Timeline, answers: list[_MapAnswer], preset: Preset) -> list[Flashcard]:
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


def _quiz(timeline: _Timeline, answers: list[_MapAnswer], preset: Preset) -> list[QuizItem]:
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
    timeline: _Timeline, windows: list[_Window], answers: list[_MapAnswer]
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
