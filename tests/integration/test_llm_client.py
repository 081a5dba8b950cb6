"""The LLM study-kit client against a real OpenAI-compatible HTTP server the tests start."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from pegasus.errors import LlmInvalidOutputError, LlmRefusedError, LlmUnavailableError
from pegasus.presets import KIT_OUTPUTS, Preset, get_preset
from pegasus.studykit.llm import LlmConfig, LlmGenerator
from pegasus.studykit.llm_client import MAX_RETRY_AFTER_SECONDS
from pegasus.studykit.schemas import Span, StudyKit
from pegasus.transcription.schemas import Segment, Transcript
from pegasus_testkit.fake_llm import (
    INVENTED_QUOTE,
    PHANTOM_FRONT,
    FakeLlm,
    Reply,
    running_fake_llm,
)
from pegasus_testkit.ports import free_port

TERMS = (
    "entropy",
    "enthalpy",
    "equilibrium",
    "temperature",
    "pressure",
    "conduction",
    "convection",
    "radiation",
    "insulation",
    "calorimetry",
    "adiabatic",
    "isotherm",
)
#: A preset asking for everything, in numbers smaller than the fake offers.
SMALL = Preset(
    key="small",
    name="Small",
    description="Everything, a little of each.",
    outputs=KIT_OUTPUTS,
    exports=("json",),
    summary_sentences=2,
    key_term_count=5,
    flashcard_count=4,
    quiz_count=3,
)
SECRET_KEY = "sk-test-do-not-leak-4242"


def lecture(segments: int, seconds_each: float = 10.0) -> Transcript:
    """Segment ``i`` names ``TERMS[i % 12]`` last; the first twelve name each term once."""
    return Transcript(
        language="en",
        duration_seconds=segments * seconds_each,
        segments=[
            Segment(
                start=i * seconds_each,
                end=(i + 1) * seconds_each,
                text=f" In part {i} of topic {i // 60} the lecturer explains {TERMS[i % 12]}.",
            )
            for i in range(segments)
        ],
    )


@pytest.fixture
def fake_llm() -> Iterator[FakeLlm]:
    with running_fake_llm() as fake:
        yield fake


def generator(fake: FakeLlm, **config: Any) -> LlmGenerator:
    settings: dict[str, Any] = {
        "base_url": fake.url,
        "model": "fake-model",
        "api_key": None,
        "timeout_seconds": 5.0,
        "max_retries": 2,
        **config,
    }
    return LlmGenerator(LlmConfig(**settings))


def spans(kit: StudyKit) -> list[Span]:
    found = [c.source for c in kit.flashcards] + [q.source for q in kit.quiz]
    found += [t.source for t in kit.key_terms if t.source is not None]
    found += [b.source for n in kit.notes for b in n.bullets]
    return found


def assert_verbatim(kit: StudyKit, transcript: Transcript) -> None:
    """Every source quotes whole transcript segments, with their times."""
    starts = {s.start for s in transcript.segments}
    ends = {s.end for s in transcript.segments}
    assert spans(kit)
    for span in spans(kit):
        assert span.text in transcript.text
        assert INVENTED_QUOTE not in span.text
        assert span.start in starts
        assert span.end in ends


def assert_tiles(kit: StudyKit, duration: float) -> None:
    assert kit.chapters[0].start == 0
    assert kit.chapters[-1].end == duration
    for before, after in zip(kit.chapters, kit.chapters[1:], strict=False):
        assert after.start == before.end


# --- success --------------------------------------------------------------------------------


def test_a_kit_from_one_window_is_valid_verbatim_and_capped(fake_llm: FakeLlm) -> None:
    transcript = lecture(12)

    kit = generator(fake_llm).generate(transcript, SMALL)

    assert kit.generator == "llm"
    assert kit.preset == "small"
    assert len(fake_llm.requests) == 1
    # The fake offers 3 summary points, 12 terms, 25 cards and 8 questions.
    assert (len(kit.summary), len(kit.key_terms), len(kit.flashcards), len(kit.quiz)) == (
        2,
        5,
        4,
        3,
    )
    assert_verbatim(kit, transcript)
    assert PHANTOM_FRONT not in [card.front for card in kit.flashcards]
    assert [t.term for t in kit.key_terms] == list(TERMS[:5])  # the model's order, best first
    entropy = kit.key_terms[0]
    assert (entropy.first_start, entropy.first_end) == (0.0, 10.0)
    assert entropy.definition == "In part 0 of topic 0 the lecturer explains entropy."
    assert entropy.context == entropy.definition
    assert entropy.occurrences == 1
    assert [(c.title, c.start, c.end) for c in kit.chapters] == [
        ("About entropy", 0.0, 60.0),
        ("About convection", 60.0, 120.0),
    ]
    assert [n.heading for n in kit.notes] == ["About entropy", "About convection"]
    assert all(len(n.bullets) == 3 for n in kit.notes)
    assert all(q.options[q.answer_index] in TERMS for q in kit.quiz)
    assert len({c.id for c in kit.flashcards}) == 4
    assert StudyKit.model_validate(kit.model_dump()) == kit


def test_the_request_is_an_openai_chat_completion_asking_only_for_wanted_parts(
    fake_llm: FakeLlm,
) -> None:
    kit = generator(fake_llm).generate(lecture(12), get_preset("quick-review"))

    (request,) = fake_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "fake-model"
    assert request.body["temperature"] == 0
    assert request.body["response_format"] == {"type": "json_object"}
    prompt = request.messages[-1]["content"]
    assert '"summary_points": at most 3' in prompt
    assert '"key_terms": at most 8' in prompt
    assert '"flashcards": at most 8' in prompt
    assert '"quiz"' not in prompt
    assert '"bullets"' not in prompt  # chapters yes, notes no
    assert "[0.00-10.00] In part 0 of topic 0 the lecturer explains entropy." in prompt
    assert kit.quiz == []
    assert kit.notes == []
    assert len(kit.chapters) == 2
    assert len(kit.flashcards) == 8


def test_a_preset_wanting_no_generated_parts_makes_no_call(fake_llm: FakeLlm) -> None:
    kit = generator(fake_llm).generate(lecture(12), get_preset("captions-only"))

    assert fake_llm.requests == []
    assert (kit.summary, kit.key_terms, kit.chapters, kit.flashcards) == ([], [], [], [])


# --- map-reduce -------------------------------------------------------------------------------


def test_a_two_hour_lecture_is_mapped_window_by_window_and_merged(fake_llm: FakeLlm) -> None:
    transcript = lecture(720)  # 2 hours of 10-second segments
    preset = get_preset("full-notes")

    kit = generator(fake_llm).generate(transcript, preset)

    assert len(fake_llm.requests) == 12  # one map call per 600-second window, no more
    assert all(r.prompt_chars <= 24000 for r in fake_llm.requests)
    seen = [line for r in fake_llm.requests for line in r.lines]
    assert len(seen) == 720  # each segment shown once
    assert [r.lines[0][0] for r in fake_llm.requests] == [600.0 * w for w in range(12)]
    assert_verbatim(kit, transcript)
    assert_tiles(kit, 7200.0)
    assert len(kit.chapters) == 24  # two sections proposed per window
    assert len(kit.notes) == 24
    assert len(kit.summary) == preset.summary_sentences
    assert kit.summary[0].start < 1200
    assert kit.summary[-1].start > 6000  # spread over the lecture, not its start
    assert len(kit.flashcards) == preset.flashcard_count
    assert kit.flashcards[-1].source.start > 3600
    assert len(kit.quiz) == preset.quiz_count
    assert len({q.question for q in kit.quiz}) == preset.quiz_count
    # Every window names the twelve terms again: each is kept once, at its first mention.
    assert sorted(t.term for t in kit.key_terms) == sorted(TERMS)
    assert all(t.first_start == 10.0 * TERMS.index(t.term) for t in kit.key_terms)
    assert all(t.occurrences == 60 for t in kit.key_terms)


def test_windows_shrink_so_no_prompt_exceeds_the_context_budget(fake_llm: FakeLlm) -> None:
    transcript = lecture(720)

    kit = generator(fake_llm, max_context_chars=5000).generate(transcript, get_preset("exam-prep"))

    assert len(fake_llm.requests) > 12
    assert max(r.prompt_chars for r in fake_llm.requests) <= 5000
    assert max(r.size for r in fake_llm.requests) <= 5000 + 1000  # plus the JSON envelope
    assert len([line for r in fake_llm.requests for line in r.lines]) == 720
    assert_tiles(kit, 7200.0)
    assert_verbatim(kit, transcript)


def test_a_budget_too_small_for_the_instructions_is_refused(fake_llm: FakeLlm) -> None:
    with pytest.raises(Exception, match="max_context_chars=1500") as caught:
        generator(fake_llm, max_context_chars=1500)
    assert getattr(caught.value, "code", None) == "config.invalid"


# --- invalid output ---------------------------------------------------------------------------


def test_malformed_json_is_asked_again_once_then_fails(fake_llm: FakeLlm) -> None:
    fake_llm.script(Reply.malformed(), Reply.malformed())

    with pytest.raises(LlmInvalidOutputError) as caught:
        generator(fake_llm).generate(lecture(12), SMALL)

    assert caught.value.code == "generation.invalid_output"
    assert "not JSON" in caught.value.message
    assert "offline generator" in caught.value.message
    assert len(fake_llm.requests) == 2
    retry_note = fake_llm.requests[1].messages[-1]
    assert retry_note["role"] == "user"
    assert "not JSON" in retry_note["content"]
    assert fake_llm.requests[1].messages[:-1] == fake_llm.requests[0].messages


def test_malformed_json_then_a_valid_answer_succeeds(fake_llm: FakeLlm) -> None:
    fake_llm.script(Reply.malformed())

    kit = generator(fake_llm).generate(lecture(12), SMALL)

    assert len(fake_llm.requests) == 2
    assert len(kit.flashcards) == 4


def test_json_violating_the_schema_is_asked_again_with_the_error_then_fails(
    fake_llm: FakeLlm,
) -> None:
    fake_llm.script(Reply.schema_invalid(), Reply.schema_invalid())

    with pytest.raises(LlmInvalidOutputError, match="key_terms") as caught:
        generator(fake_llm).generate(lecture(12), SMALL)

    assert "quiz.0: Value error, quiz options must be four different" in caught.value.message
    assert len(fake_llm.requests) == 2
    assert "key_terms: Input should be a valid list" in fake_llm.requests[1].messages[-1]["content"]


# --- unavailable: one backoff policy, the queue's --------------------------------------------


def test_a_timeout_fails_transiently_at_once(fake_llm: FakeLlm) -> None:
    fake_llm.script(Reply.slow(5))

    started = time.monotonic()
    with pytest.raises(LlmUnavailableError) as caught:
        generator(fake_llm, timeout_seconds=0.3).generate(lecture(12), SMALL)

    assert time.monotonic() - started < 2.5  # one timeout, no backoff sleep in the worker
    error = caught.value
    assert error.code == "generation.llm_unavailable"
    assert error.transient  # the queue's retry policy runs the stage again
    assert "127.0.0.1:" in error.message
    assert "did not answer (no answer within 0.3 s)" in error.message
    assert "switch to the offline generator" in error.message
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_busy_or_failing_endpoint_fails_transiently_without_waiting(
    fake_llm: FakeLlm, status: int
) -> None:
    fake_llm.script(Reply.error(status))

    started = time.monotonic()
    with pytest.raises(LlmUnavailableError, match=rf"did not answer \(HTTP {status}\)") as caught:
        generator(fake_llm).generate(lecture(12), SMALL)

    assert time.monotonic() - started < 2
    assert caught.value.transient
    assert caught.value.context["status"] == status
    assert caught.value.context["retry_after_seconds"] is None
    assert len(fake_llm.requests) == 1
    # The next attempt (the queue's retry) finds the endpoint answering again.
    assert len(generator(fake_llm).generate(lecture(12), SMALL).key_terms) == 5


def test_a_retry_after_is_reported_as_a_capped_hint_never_slept(fake_llm: FakeLlm) -> None:
    fake_llm.script(Reply.rate_limited(retry_after="7"), Reply.rate_limited(retry_after="86400"))

    started = time.monotonic()
    with pytest.raises(LlmUnavailableError) as first:
        generator(fake_llm).generate(lecture(12), SMALL)
    with pytest.raises(LlmUnavailableError) as second:
        generator(fake_llm).generate(lecture(12), SMALL)

    assert time.monotonic() - started < 2
    assert first.value.context["retry_after_seconds"] == 7.0
    assert "(HTTP 429, asked to wait 7 s)" in first.value.message
    assert second.value.context["retry_after_seconds"] == MAX_RETRY_AFTER_SECONDS
    assert len(fake_llm.requests) == 2


def test_a_refused_request_fails_permanently(fake_llm: FakeLlm) -> None:
    fake_llm.script(Reply.error(401))

    with pytest.raises(LlmRefusedError, match="refused the request \\(HTTP 401") as caught:
        generator(fake_llm).generate(lecture(12), SMALL)

    assert caught.value.code == "generation.llm_refused"
    assert not caught.value.transient
    assert len(fake_llm.requests) == 1


def test_nothing_listening_is_resent_at_once_then_unavailable() -> None:
    config = LlmConfig(
        base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", api_key=None, max_retries=1
    )

    with capture_logs() as logs, pytest.raises(LlmUnavailableError) as caught:
        LlmGenerator(config).generate(lecture(12), SMALL)

    assert "connection failed: ConnectError, 2 attempts" in caught.value.message
    assert caught.value.transient
    assert [e["event"] for e in logs].count("studykit.llm.resending") == 1


# --- progress -----------------------------------------------------------------------------------


def test_progress_is_reported_before_each_model_call(fake_llm: FakeLlm) -> None:
    reports: list[tuple[float, str, int]] = []

    def on_progress(fraction: float, message: str) -> None:
        reports.append((fraction, message, len(fake_llm.requests)))

    generator(fake_llm).generate(lecture(180), get_preset("full-notes"), on_progress)

    # 30 minutes in 600-second windows: three calls, each announced before it is sent.
    assert len(fake_llm.requests) == 3
    assert reports == [
        (0.0, "Asking the model about part 1 of 3", 0),
        (1 / 3, "Asking the model about part 2 of 3", 1),
        (2 / 3, "Asking the model about part 3 of 3", 2),
        (1.0, "Merging the model's answers for 3 parts", 3),
    ]


# --- the key --------------------------------------------------------------------------------


def test_the_key_is_sent_as_a_bearer_token_and_never_logged(fake_llm: FakeLlm) -> None:
    fake_llm.script(Reply.error(500))

    with capture_logs() as logs, pytest.raises(LlmUnavailableError) as caught:
        generator(fake_llm, api_key=SECRET_KEY).generate(lecture(12), SMALL)
    generator(fake_llm, api_key=SECRET_KEY).generate(lecture(12), SMALL)

    assert [r.headers["authorization"] for r in fake_llm.requests] == [f"Bearer {SECRET_KEY}"] * 2
    assert [e["event"] for e in logs].count("studykit.llm.unavailable") == 1
    assert SECRET_KEY not in repr(logs)
    assert SECRET_KEY not in str(caught.value)
    assert SECRET_KEY not in repr(caught.value.context)
    assert SECRET_KEY not in repr(LlmConfig(base_url=fake_llm.url, model="m", api_key=SECRET_KEY))


def test_no_key_sends_no_authorization_header(fake_llm: FakeLlm) -> None:
    generator(fake_llm).generate(lecture(12), SMALL)

    assert "authorization" not in fake_llm.requests[0].headers


#: A key with characters that JSON, URLs and HTML each escape differently.
AWKWARD_KEY = 'sk-"quoted"/slash\\back+plus <tag>&amp-4242'


def test_a_key_echoed_in_any_encoding_never_reaches_the_error_or_the_logs(
    fake_llm: FakeLlm,
) -> None:
    fake_llm.script(Reply.key_echoed(401))

    with capture_logs() as logs, pytest.raises(LlmRefusedError) as caught:
        generator(fake_llm, api_key=AWKWARD_KEY).generate(lecture(12), SMALL)

    error = caught.value
    # The message learners may see is ours alone: no provider text at all.
    assert "refused the request (HTTP 401)" in error.message
    assert "Incorrect API key" not in error.message
    (refused,) = [e for e in logs if e["event"] == "studykit.llm.refused"]
    assert refused["status"] == 401
    assert "Incorrect API key provided: ***" in refused["response"]
    assert "url-encoded: ***" in refused["response"]
    shown = repr(logs) + str(error) + repr(error.context)
    for form in ("quoted", "slash", "back", "plus", "tag>", "4242"):
        assert form not in shown, form
