"""The generate stage's backend: offline by default, the LLM endpoint when configured,
the offline generator as a fallback only when asked for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from pegasus.config import LlmSettings
from pegasus.errors import LlmUnavailableError
from pegasus.pipeline.generate import build_kit_generator
from pegasus.presets import BUILTIN_PRESETS
from pegasus.studykit.generator import generate_kit
from pegasus.transcription.schemas import Segment, Transcript
from pegasus_testkit.fake_llm import FakeLlm, Reply, running_fake_llm

TRANSCRIPT = Transcript(
    language="en",
    duration_seconds=30.0,
    segments=[
        Segment(start=0.0, end=10.0, text="Chlorophyll is the green pigment in the leaves."),
        Segment(start=10.0, end=20.0, text="The Calvin cycle fixes carbon dioxide into sugar."),
        Segment(start=20.0, end=30.0, text="Stomata are pores that let carbon dioxide in."),
    ],
)


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with running_fake_llm() as server:
        yield server


def _settings(fake: FakeLlm, **changes: object) -> LlmSettings:
    base = LlmSettings(
        base_url=fake.url,
        model="test-model",
        api_key=SecretStr("sk-test-key-123"),
        max_retries=1,
        timeout_seconds=5,
    )
    return base.model_copy(update=changes)


def test_offline_when_no_endpoint_is_configured() -> None:
    assert build_kit_generator(LlmSettings()) is generate_kit


def test_llm_endpoint_makes_the_kit(fake: FakeLlm) -> None:
    kit = build_kit_generator(_settings(fake))(TRANSCRIPT, BUILTIN_PRESETS["exam-prep"])
    assert kit.generator == "llm"
    assert fake.requests, "the endpoint was not called"
    preset = BUILTIN_PRESETS["exam-prep"]
    # The fake answers with two cards and one question per line, more than the preset keeps.
    assert len(kit.flashcards) == min(2 * len(TRANSCRIPT.segments), preset.flashcard_count)
    assert kit.quiz
    lines = {s.text for s in TRANSCRIPT.segments}
    for card in kit.flashcards:
        assert card.source.text in lines
    fronts = {c.front for c in kit.flashcards if c.kind == "definition"}
    assert fronts, "the endpoint's definition cards were kept"
    assert all(any(front in line for line in lines) for front in fronts)


def test_failing_endpoint_fails_generation_without_fallback(fake: FakeLlm) -> None:
    fake.script(*[Reply.error(503)] * 10)
    generator = build_kit_generator(_settings(fake))
    with pytest.raises(LlmUnavailableError) as caught:
        generator(TRANSCRIPT, BUILTIN_PRESETS["exam-prep"])
    assert caught.value.code == "generation.llm_unavailable"
    assert "sk-test-key-123" not in caught.value.message


def test_fallback_makes_an_offline_kit(fake: FakeLlm) -> None:
    fake.script(*[Reply.error(503)] * 10)
    generator = build_kit_generator(_settings(fake, fallback_offline=True))
    kit = generator(TRANSCRIPT, BUILTIN_PRESETS["exam-prep"])
    assert kit.generator == "offline"
    assert kit == generate_kit(TRANSCRIPT, BUILTIN_PRESETS["exam-prep"])
