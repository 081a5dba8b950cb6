"""Make a study kit with a language model behind any OpenAI-compatible chat-completions API.

Map-reduce: the transcript is cut into windows (``window_seconds`` long, and small enough
that no prompt exceeds ``max_context_chars``; ``llm_windows``); each window is asked for the
parts the preset wants (map, ``llm_prompts``, answers checked against ``llm_schemas``); the
answers are merged, deduplicated and capped without another call (reduce, ``llm_reduce``).

The model cites times, never text: every item's ``source`` is rebuilt from the transcript
segments its times overlap. An answer that is not JSON or not the asked shape is asked for
once more with the error, then fails with ``LlmInvalidOutputError``. The HTTP side
(``llm_client``) never sleeps: a busy or unreachable endpoint raises the transient
``LlmUnavailableError`` and the queue runs the stage again later.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable

import httpx
import structlog
from pydantic import ValidationError

from pegasus.errors import (
    ConfigError,
    LlmInvalidOutputError,
    LlmRefusedError,
    LlmUnavailableError,
)
from pegasus.presets import Preset
from pegasus.studykit.llm_client import ChatClient, Send
from pegasus.studykit.llm_config import LlmConfig
from pegasus.studykit.llm_prompts import (
    RETRY_ERROR_CHARS,
    RETRY_NOTE,
    MapAsk,
    map_messages,
    prompt_chars,
    retry_message,
)
from pegasus.studykit.llm_reduce import GENERATOR_NAME, empty_kit, reduce_answers
from pegasus.studykit.llm_schemas import MapAnswer, describe
from pegasus.studykit.llm_windows import Timeline, Window
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

__all__ = [
    "GENERATOR_NAME",
    "LlmConfig",
    "LlmGenerator",
    "LlmInvalidOutputError",
    "LlmRefusedError",
    "LlmUnavailableError",
]

#: Fewer transcript characters than this per window leaves no room for a lecture.
MIN_WINDOW_CHARS = 500

#: Told how far the kit is (0..1) and what is happening, before each model call and at the end.
Progress = Callable[[float, str], None]


class LlmGenerator:
    """Study kits from an OpenAI-compatible chat-completions endpoint (see the module doc)."""

    def __init__(self, config: LlmConfig, *, client: httpx.Client | None = None) -> None:
        config.check()
        self.config = config
        self.host = config.host
        self._chat = ChatClient(config, client=client)
        self._log = structlog.get_logger(__name__)
        everything = MapAsk(
            summary_points=99, sections=True, bullets=True, key_terms=99, flashcards=99, quiz=99
        )
        if self._line_budget(everything) < MIN_WINDOW_CHARS:
            raise ConfigError(
                f"LLM max_context_chars={config.max_context_chars} leaves no room for the "
                "transcript next to the instructions; raise it.",
            )

    def generate(
        self, transcript: Transcript, preset: Preset, on_progress: Progress | None = None
    ) -> StudyKit:
        """The parts of the kit ``preset`` wants, made by the model from ``transcript``;
        ``on_progress`` hears of each window before it is sent."""
        timeline = Timeline(transcript)
        if not self._ask(preset).anything:
            return empty_kit(preset)
        windows = timeline.windows(self.config.window_seconds, self._line_budget(self._ask(preset)))
        if not windows:
            return empty_kit(preset)
        ask = self._ask(preset, len(windows))
        self._log.info(
            "studykit.llm.started",
            host=self.host,
            model=self.config.model,
            preset=preset.key,
            windows=len(windows),
        )
        started = time.monotonic()
        answers: list[MapAnswer] = []
        with self._chat.connected() as send:
            for window in windows:
                if on_progress is not None:
                    on_progress(
                        window.index / len(windows),
                        f"Asking the model about part {window.index + 1} of {len(windows)}",
                    )
                answers.append(self._map(send, window, len(windows), ask))
        if on_progress is not None:
            on_progress(1.0, f"Merging the model's answers for {len(windows)} parts")
        kit = reduce_answers(
            timeline, windows, answers, preset, host=self.host, model=self.config.model
        )
        self._log.info(
            "studykit.llm.finished",
            host=self.host,
            model=self.config.model,
            windows=len(windows),
            seconds=round(time.monotonic() - started, 3),
        )
        return kit

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

    def _map(self, send: Send, window: Window, parts: int, ask: MapAsk) -> MapAnswer:
        """One window's answer; an invalid one is asked for once more, with its problem."""
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
            content = send([*messages, retry_message(problem)] if attempt else messages)
            try:
                answer = MapAnswer.model_validate(json.loads(content))
            except json.JSONDecodeError as exc:
                problem = f"the answer is not JSON ({exc.msg} at character {exc.pos})"
            except ValidationError as exc:
                problem = "the JSON does not have the asked shape: " + describe(exc)
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
