"""The prompts the LLM study-kit generator sends: one map prompt per transcript window.

The model sees transcript lines as ``[start-end] text`` (seconds, two decimals) and answers
with one JSON object holding only the parts it was asked for. It cites times, never text:
the generator maps those times back to the transcript to quote it verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM_PROMPT = (
    "You turn one part of a university lecture transcript into study material. "
    "Use only what is said in the transcript lines you are given; do not add outside "
    "knowledge. Each line starts with [start-end], its time in seconds. Every item you "
    "write has a start and an end: copy them from the [start-end] of the line or lines the "
    "item comes from. Answer with one JSON object only, no prose and no code fences, with "
    "exactly the keys described below."
)

#: The note asked for again after an answer that was not valid JSON or not the shape asked.
RETRY_NOTE = (
    "Your previous answer was not valid: {error}. Answer again with one JSON object in "
    "exactly the shape described above."
)
#: The most characters of a validation error repeated to the model.
RETRY_ERROR_CHARS = 1000


@dataclass(frozen=True)
class MapAsk:
    """What one window's prompt asks for; a zero count or False leaves that key out."""

    summary_points: int = 0
    sections: bool = False
    bullets: bool = False
    key_terms: int = 0
    flashcards: int = 0
    quiz: int = 0

    @property
    def anything(self) -> bool:
        return bool(
            self.summary_points or self.sections or self.key_terms or self.flashcards or self.quiz
        )


def _shape(ask: MapAsk) -> str:
    parts: list[str] = []
    if ask.summary_points:
        parts.append(
            f'"summary_points": at most {ask.summary_points} of '
            '{"text": "<one sentence summing up a main point>", "start": <s>, "end": <s>}'
        )
    if ask.sections:
        bullets = (
            ', "bullets": [{"text": "<a short note of a point made>", "start": <s>, "end": <s>}]'
            if ask.bullets
            else ""
        )
        parts.append(
            '"sections": one to four of {"title": "<a short title for this topic>", '
            f'"start": <s, where the topic begins>{bullets}}}, in time order; the first '
            "starts at the first line"
        )
    if ask.key_terms:
        parts.append(
            f'"key_terms": at most {ask.key_terms} of {{"term": "<a term the lecture '
            'explains>", "definition": "<what the lecturer says it means, in their words>", '
            '"start": <s>, "end": <s>}, most important first'
        )
    if ask.flashcards:
        parts.append(
            f'"flashcards": at most {ask.flashcards} of {{"kind": "definition" or "cloze", '
            '"front": "<a term, or for cloze a sentence with the answer written as '
            '{{c1::answer}}>", "back": "<the meaning, or for cloze the answer>", '
            '"start": <s>, "end": <s>}'
        )
    if ask.quiz:
        parts.append(
            f'"quiz": at most {ask.quiz} of {{"question": "<a question>", "options": '
            '[four different answers], "answer_index": <0-3, the one correct option>, '
            '"explanation": "<one line saying why>", "start": <s>, "end": <s>}'
        )
    return "The JSON object has these keys:\n- " + "\n- ".join(parts)


def map_messages(
    *, lines: list[str], part: int, parts: int, start: float, end: float, ask: MapAsk
) -> list[dict[str, str]]:
    """The chat messages asking for ``ask`` from one window of transcript ``lines``."""
    header = (
        f"{_shape(ask)}\n\nLecture part {part + 1} of {parts}, "
        f"from {start:.2f}s to {end:.2f}s. Transcript lines:\n"
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": header + "\n".join(lines)},
    ]


def retry_message(error: str) -> dict[str, str]:
    """The extra user message sent after an invalid answer, with its (shortened) error."""
    return {"role": "user", "content": RETRY_NOTE.format(error=error[:RETRY_ERROR_CHARS])}


def format_line(start: float, end: float, text: str) -> str:
    """One transcript line as the model sees it."""
    return f"[{start:.2f}-{end:.2f}] {text}"


def prompt_chars(messages: list[dict[str, str]]) -> int:
    """The size of a prompt, counted as the characters of its messages' contents."""
    return sum(len(message["content"]) for message in messages)
