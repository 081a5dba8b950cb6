"""The generate stage on a model endpoint that is busy: one backoff policy, the queue's.

A 429 or 503 from the (fake, real-HTTP) OpenAI-compatible server fails the stage run with
the transient ``generation.llm_unavailable`` at once; the runner schedules the next attempt
with ``pegasus.queue.retry``'s delay, and that attempt makes the kit. Nothing sleeps in the
worker, whatever Retry-After the server sends. The stage reports progress per model call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from pegasus.config import LlmSettings
from pegasus.db.models import StageRun
from pegasus.db.session import unit_of_work
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.generate import KIT_NAME, GenerateStage, build_kit_generator
from pegasus.pipeline.transcribe import TRANSCRIPT_NAME
from pegasus.presets import get_preset
from pegasus.storage.keys import lecture_key
from pegasus.storage.local import LocalObjectStore
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Segment, Transcript
from pegasus_testkit.fake_llm import FakeLlm, Reply, running_fake_llm
from tests.factories import PipelineHarness

TERMS = ("entropy", "enthalpy", "equilibrium", "temperature", "pressure", "conduction")


def lecture(segments: int) -> Transcript:
    return Transcript(
        language="en",
        duration_seconds=segments * 10.0,
        segments=[
            Segment(
                start=i * 10.0,
                end=(i + 1) * 10.0,
                text=f"In part {i} the lecturer explains {TERMS[i % len(TERMS)]}.",
            )
            for i in range(segments)
        ],
    )


class StoredTranscriptStage:
    """Stands in for transcribe: stores a known transcript where generate reads it."""

    name = "transcribe"

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript

    def run(self, ctx: StageContext) -> StageResult:
        stored = ctx.store.put_bytes(
            ctx.key(TRANSCRIPT_NAME), self.transcript.model_dump_json().encode()
        )
        return StageResult(
            artifacts=[ArtifactOut(kind="transcript", stored=stored, content_type="text/json")]
        )


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with running_fake_llm() as server:
        yield server


@pytest.fixture
def harness(sqlite_url: str, tmp_path: Path, fake: FakeLlm) -> Iterator[PipelineHarness]:
    h = PipelineHarness(sqlite_url, tmp_path)
    h.runner.stages = {
        **h.stages,
        "transcribe": StoredTranscriptStage(lecture(12)),
        "generate": GenerateStage(build_kit_generator(llm_settings(fake))),
    }
    yield h
    h.close()


def llm_settings(fake: FakeLlm) -> LlmSettings:
    return LlmSettings(
        base_url=fake.url, model="fake-model", api_key=SecretStr("sk-test-9"), timeout_seconds=5
    )


def run_all(h: PipelineHarness) -> list[tuple[str, float]]:
    """Run every sent message (ignoring its delay); the (stage, delay) of each, in order."""
    sent: list[tuple[str, float]] = []
    for _ in range(20):
        batch = h.dispatcher.take()
        if not batch:
            return sent
        for stage_run_id, delay in batch:
            sent.append((_stage_of(h, stage_run_id), delay))
            h.runner.run(stage_run_id)
    raise AssertionError("the pipeline did not settle")


def _stage_of(h: PipelineHarness, stage_run_id: str) -> str:
    with unit_of_work(h.factory) as session:
        run = session.get(StageRun, stage_run_id)
        assert run is not None
        return run.stage


@pytest.mark.parametrize(
    ("busy", "expected_delay"),
    [
        # No hint: the queue's own backoff (attempt 1: 1..2 s with retry_base_seconds=2).
        (Reply.error(503), (1.0, 2.0)),
        # Retry-After is a hint the queue honours...
        (Reply.rate_limited(retry_after="30"), (30.0, 30.0)),
        # ... capped by the client (120 s) and the queue (retry_max_seconds, 300 s).
        (Reply.rate_limited(retry_after="3600"), (120.0, 120.0)),
    ],
    ids=["503", "429-retry-after-30", "429-retry-after-an-hour"],
)
def test_a_busy_endpoint_fails_the_attempt_transiently_and_the_queue_retries_it(
    harness: PipelineHarness, fake: FakeLlm, busy: Reply, expected_delay: tuple[float, float]
) -> None:
    fake.script(busy)

    started = time.monotonic()
    sent = run_all(harness)
    elapsed = time.monotonic() - started

    assert harness.runs() == [
        ("ingest", 1, "succeeded", None),
        ("transcribe", 1, "succeeded", None),
        ("generate", 1, "failed", "generation.llm_unavailable"),
        ("generate", 2, "succeeded", None),
        ("export", 1, "succeeded", None),
    ]
    assert harness.lecture().status == "succeeded"
    assert len(fake.requests) == 2  # one busy answer, one kit: no retries inside the client
    # The wait is the queue's delayed message, never a sleep in the worker.
    (retry_delay,) = [delay for stage, delay in sent if stage == "generate" and delay > 0]
    low, high = expected_delay
    assert low <= retry_delay <= high
    assert elapsed < 10
    kit = StudyKit.model_validate_json(harness.store.get_bytes(_key(harness, KIT_NAME)))
    assert kit.generator == "llm"
    assert kit.flashcards


def _key(h: PipelineHarness, name: str) -> str:
    lecture = h.lecture()
    return lecture_key(lecture.course_id, lecture.id, name)


def test_the_stage_reports_progress_before_each_model_call(tmp_path: Path, fake: FakeLlm) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    reports: list[tuple[float, str, int]] = []

    def report(progress: float, message: str) -> None:
        reports.append((round(progress, 4), message, len(fake.requests)))

    ctx = StageContext(
        lecture_id="lec",
        course_id="course",
        stage_run_id="run",
        attempt=1,
        title="T",
        source_name="t.m4a",
        course_name="C",
        preset=get_preset("full-notes"),
        store=store,
        workdir=tmp_path,
        report_progress=report,
    )
    store.put_bytes(ctx.key(TRANSCRIPT_NAME), lecture(180).model_dump_json().encode())

    GenerateStage(build_kit_generator(llm_settings(fake))).run(ctx)

    # 30 minutes in 600-second windows: three model calls, each announced before it is
    # sent, on the stage's scale between reading (0.2) and storing the kit (1.0).
    assert len(fake.requests) == 3
    assert reports == [
        (0.0, "Reading the transcript", 0),
        (0.2, "Writing the study kit", 0),
        (0.2, "Asking the model about part 1 of 3", 0),
        (0.45, "Asking the model about part 2 of 3", 1),
        (0.7, "Asking the model about part 3 of 3", 2),
        (0.95, "Merging the model's answers for 3 parts", 3),
        (1.0, reports[-1][1], 3),
    ]
