"""The course's PII policy, enforced by a real pipeline run on both databases: a lecture is
uploaded through the API and runs through the real stages (ingest, transcribe, generate,
export) with the runner; only the speech recognizer is a fake that "hears" a transcript full
of personal data. What is stored and served afterwards (the transcript, the search index,
the study kit, every export and every stored object) holds none of it; a course that turned
a kind off keeps that kind; the redaction is logged with counts only.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import wave
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pypdf import PdfReader
from structlog.testing import capture_logs

from pegasus.accounts.service import create_token, create_user
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
    TranscriptionMode,
)
from pegasus.courses.service import resolve_preset
from pegasus.db.session import unit_of_work
from pegasus.pipeline.base import ArtifactRef, ProgressCallback, StageContext
from pegasus.pipeline.runner import StageRunner
from pegasus.pipeline.transcribe import TranscribeStage
from pegasus.presets import EXPORT_KEYS, get_preset
from pegasus.runtime import Runtime, build_runtime, build_stages
from pegasus.search.repository import index_transcript
from pegasus.storage.keys import lecture_key
from pegasus.storage.local import LocalObjectStore
from pegasus.testing import RecordingDispatcher
from pegasus.transcription.pii import RedactionPolicy
from pegasus.transcription.schemas import Transcript
from tests.factories import BACKENDS
from tests.transcripts import make_transcript

HEARD = [
    "Good morning everyone, today Jane Doe joins us for the photosynthesis lecture.",
    "Photosynthesis turns light energy into chemical energy inside the chloroplast.",
    "If you have questions email jane.doe@example.com or call 555-123-4567 after class.",
    "Chlorophyll is a green pigment that absorbs red and blue light in the leaf.",
    "Mark Brown, your student number 20231234 was missing from the chlorophyll quiz.",
    "The Calvin cycle fixes carbon dioxide into sugar in the stroma of the chloroplast.",
    "Photosynthesis releases oxygen, and the Calvin cycle builds glucose from carbon dioxide.",
]
ROSTER = ["Jane Doe", "Mark Brown"]
#: What must never appear once redacted (checked as whole words, in any letter case).
PERSONAL = {
    "email": [r"jane\.doe@example\.com"],
    "phone": [r"555-123-4567", r"123-4567"],
    "id_number": [r"20231234"],
    "roster_name": [r"jane", r"doe", r"brown"],
}


class HearsPersonalData:
    """A speech recognizer that hears ``HEARD`` whatever the audio (the fake for this test)."""

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(
        self,
        wav_path: Path,
        *,
        hotwords: str | None = None,
        on_progress: ProgressCallback | None = None,
        mode: TranscriptionMode | None = None,
    ) -> Transcript:
        assert wav_path.stat().st_size > 0
        self.calls += 1
        if on_progress is not None:
            on_progress(1.0, "heard it")
        return make_transcript(HEARD, leading_space=True)


def _tone_wav(path: Path, seconds: float = 1.0, rate: int = 16_000) -> Path:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@dataclass
class Pipeline:
    """The app for API calls, and a runner over the real stages (fake speech recognizer)
    that runs whatever the upload queued."""

    http: TestClient
    auth: dict[str, str]
    runtime: Runtime
    dispatcher: RecordingDispatcher
    runner: StageRunner
    wav: Path

    def course(self, name: str) -> str:
        response = self.http.post("/api/v1/courses", json={"name": name}, headers=self.auth)
        assert response.status_code == 201, response.text
        course_id: str = response.json()["id"]
        return course_id

    def set_policy(self, course_id: str, kinds: list[str]) -> None:
        response = self.http.put(
            f"/api/v1/courses/{course_id}/privacy",
            json={"redaction_kinds": kinds, "roster_names": ROSTER, "audio_retention_days": None},
            headers=self.auth,
        )
        assert response.status_code == 200, response.text

    def process(self, course_id: str) -> str:
        with self.wav.open("rb") as fh:
            response = self.http.post(
                f"/api/v1/courses/{course_id}/lectures",
                files={"file": ("lecture.wav", fh, "audio/wav")},
                data={"preset": "quick-review", "title": "Photosynthesis"},
                headers=self.auth,
            )
        assert response.status_code == 202, response.text
        lecture_id: str = response.json()["id"]
        for _ in range(20):
            sent = self.dispatcher.take()
            if not sent:
                break
            for stage_run_id, _delay in sent:
                self.runner.run(stage_run_id)
        lecture = self.http.get(f"/api/v1/lectures/{lecture_id}", headers=self.auth).json()
        assert lecture["status"] == "succeeded", lecture["stages"][-1]["error"]
        return lecture_id

    def get(self, path: str) -> Any:
        response = self.http.get(path, headers=self.auth)
        assert response.status_code == 200, response.text
        return response


@pytest.fixture(params=BACKENDS)
def pipeline(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[Pipeline]:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(new_database(request.param))),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    dispatcher = RecordingDispatcher()
    runtime = build_runtime(settings, dispatcher)
    stages = build_stages(settings)
    stages["transcribe"] = TranscribeStage(HearsPersonalData)
    runner = StageRunner(
        queue=settings.queue,
        session_factory=runtime.session_factory,
        store=runtime.store,
        dispatcher=dispatcher,
        stages=stages,
        metrics=runtime.metrics,
        resolve_preset=resolve_preset,
        on_transcript=index_transcript,
    )
    with unit_of_work(runtime.session_factory) as session:
        create_user(session, "owner@example.org", "a long enough password")
    with unit_of_work(runtime.session_factory) as session:
        auth = {"Authorization": f"Bearer {create_token(session, 'owner@example.org')}"}
    with TestClient(create_app(settings, runtime)) as http:
        yield Pipeline(http, auth, runtime, dispatcher, runner, _tone_wav(tmp_path / "t.wav"))
    runtime.close()


# --- reading everything a lecture left behind ----------------------------------------------


def _texts_of(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    """(where, text) of a stored object: zips (the bundle, Anki's package) opened, PDFs'
    text extracted, everything else read as UTF-8 (an SQLite file's text is stored plain)."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            for member in bundle.namelist():
                yield from _texts_of(f"{name}!{member}", bundle.read(member))
        return
    if data[:5] == b"%PDF-":
        reader = PdfReader(io.BytesIO(data))
        yield name, "\n".join(page.extract_text() or "" for page in reader.pages)
        return
    yield name, data.decode("utf-8", errors="ignore")


def _found(text: str, kinds: list[str]) -> list[str]:
    return [
        pattern
        for kind in kinds
        for pattern in PERSONAL[kind]
        if re.search(rf"(?<![\w.]){pattern}(?![\w])", text, re.IGNORECASE)
    ]


def _everything(pipeline: Pipeline, lecture_id: str) -> dict[str, str]:
    """Every text a reader of the lecture can get: API answers and stored objects (the
    recording and its ASR copy excepted: they are audio)."""
    base = f"/api/v1/lectures/{lecture_id}"
    texts = {
        "transcript": pipeline.get(f"{base}/transcript").text,
        "kit": pipeline.get(f"{base}/kit").text,
    }
    for fmt in EXPORT_KEYS:
        for where, text in _texts_of(
            f"export.{fmt}", pipeline.get(f"{base}/exports/{fmt}").content
        ):
            texts[where] = text
    store = pipeline.runtime.store
    for stored in store.list_prefix("courses/"):
        if f"/{lecture_id}/" not in stored.key:
            continue
        name = stored.key.rsplit("/", 1)[1]
        if name.startswith(("source", "audio-16k")):
            continue
        for where, text in _texts_of(stored.key, store.get_bytes(stored.key)):
            texts[where] = text
    return texts


def _search(pipeline: Pipeline, query: str) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = pipeline.get(f"/api/v1/search?q={query}").json()["hits"]
    return hits


# --- the tests -----------------------------------------------------------------------------


def test_a_course_policy_keeps_personal_data_out_of_everything_stored(
    pipeline: Pipeline,
) -> None:
    course_id = pipeline.course("Plant biology")
    pipeline.set_policy(course_id, ["email", "phone", "id_number", "roster_name"])

    with capture_logs() as logs:
        lecture_id = pipeline.process(course_id)

    texts = _everything(pipeline, lecture_id)
    read = {"transcript", "kit", "export.apkg!collection.anki2", "export.zip!Photosynthesis.pdf"}
    assert read | {f"export.{fmt}" for fmt in ("md", "json", "srt", "vtt", "pdf", "csv")} <= set(
        texts
    )
    leaks = {
        where: found for where, text in texts.items() if (found := _found(text, list(PERSONAL)))
    }
    assert leaks == {}
    transcript = json.loads(texts["transcript"])
    said = " ".join(s["text"] for s in transcript["segments"])
    assert "today [name] joins us" in said
    assert "email [email] or call [phone] after class" in said
    assert "[name], your student number [id] was missing" in said
    words = [w["word"] for s in transcript["segments"] for w in s["words"]]
    assert {" [email]", " [phone]", " [id]", " [name],"} <= set(words)
    # The lecture itself is intact: the same segments, the kit made from them.
    assert len(transcript["segments"]) == len(HEARD)
    assert "chloroplast" in texts["kit"].lower()
    for readable in ("export.pdf", "export.apkg!collection.anki2", "export.zip!Photosynthesis.pdf"):
        assert "photosynthesis" in texts[readable].lower(), readable  # the check reads them
    # Search sees only the redacted text.
    assert _search(pipeline, "Jane") == []
    assert _search(pipeline, "20231234") == []
    assert _search(pipeline, "Brown") == []
    (hit,) = [h for h in _search(pipeline, "questions") if h["lecture_id"] == lecture_id]
    assert "jane" not in hit["snippet"].lower()
    assert "555" not in hit["snippet"]
    # Counts per kind are logged, never a value.
    (event,) = [e for e in logs if e["event"] == "pipeline.transcript.redacted"]
    assert event["redacted"] == {"email": 1, "phone": 1, "id_number": 1, "roster_name": 2}
    assert event["redacted_total"] == 5
    assert event["lecture_id"] == lecture_id
    assert _found(json.dumps(logs, default=str), list(PERSONAL)) == []


def test_a_course_with_a_kind_turned_off_keeps_that_kind(pipeline: Pipeline) -> None:
    course_id = pipeline.course("Open contact")
    pipeline.set_policy(course_id, ["phone", "id_number", "roster_name"])  # no "email"

    lecture_id = pipeline.process(course_id)

    texts = _everything(pipeline, lecture_id)
    transcript = json.loads(texts["transcript"])
    said = " ".join(s["text"] for s in transcript["segments"])
    assert "email jane.doe@example.com or call [phone] after class" in said
    assert "[email]" not in said
    # The kept address stays whole; every other kind is still redacted.
    rest = texts["transcript"].replace("jane.doe@example.com", "")
    assert _found(rest, ["phone", "id_number", "roster_name"]) == []
    for export in ("export.md", "export.srt", "export.pdf", "export.zip!Photosynthesis.vtt"):
        assert _found(texts[export], ["email"]) != [], export  # the kept kind reaches them
    (hit,) = _search(pipeline, "questions")
    assert "example.com" in hit["snippet"]


def test_a_course_that_never_set_a_policy_redacts_every_kind_but_knows_no_names(
    pipeline: Pipeline,
) -> None:
    course_id = pipeline.course("Defaults")

    lecture_id = pipeline.process(course_id)

    texts = _everything(pipeline, lecture_id)
    assert _found(texts["transcript"], ["email", "phone", "id_number"]) == []
    assert "Jane Doe" in texts["transcript"]  # no roster: names cannot be known


def test_a_stage_context_without_the_course_policy_redacts_every_kind(tmp_path: Path) -> None:
    """The context's default is the safe one: a caller that forgets the policy still never
    stores an unredacted transcript (a roster it cannot know, though)."""
    store = LocalObjectStore(tmp_path / "objects")
    audio = store.put_file(lecture_key("c1", "l1", "audio-16k.wav"), _tone_wav(tmp_path / "a.wav"))
    work = tmp_path / "work"
    work.mkdir()
    ctx = StageContext(
        lecture_id="l1",
        course_id="c1",
        stage_run_id="r1",
        attempt=1,
        title="T",
        source_name="t.wav",
        course_name="C",
        preset=get_preset("quick-review"),
        store=store,
        workdir=work,
        report_progress=lambda fraction, message: None,
        artifacts=MappingProxyType({"audio": ArtifactRef(key=audio.key, version=1)}),
    )
    assert ctx.redaction == RedactionPolicy()
    result = TranscribeStage(HearsPersonalData).run(ctx)
    stored = store.get_bytes(result.artifacts[0].stored.key).decode()
    assert _found(stored, ["email", "phone", "id_number"]) == []
    assert result.transcript is not None
    assert _found(result.transcript.model_dump_json(), ["email", "phone", "id_number"]) == []
