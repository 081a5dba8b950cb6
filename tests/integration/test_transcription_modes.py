"""Transcription modes per course and per preset: ``PATCH /api/v1/courses/{id}`` and the
course page's form set a course's mode (a bad value is refused with
``transcription_mode.unknown`` and a sentence), the preset cards show the mode and the time
it takes, and a lecture run through the real pipeline (the real tiny.en model) is
transcribed in the preset's mode, else the course's, else the server's, which its stored
transcript records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pegasus.accounts.service import create_token, create_user
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
    TranscriptionSettings,
)
from pegasus.courses.service import resolve_preset
from pegasus.db.models import Course
from pegasus.db.session import unit_of_work
from pegasus.pipeline.runner import StageRunner
from pegasus.presets import BUILTIN_PRESETS
from pegasus.runtime import Runtime, build_runtime, build_stages
from pegasus.search.repository import index_transcript
from pegasus.testing import RecordingDispatcher
from pegasus.web.estimates import processing_sentence
from pegasus_testkit.audio import synthesize_speech
from tests.factories import BACKENDS
from tests.support.forms import CSRF_FIELD, PASSWORD, form_fields, sign_in, visible_text

SPOKEN = "Photosynthesis turns light energy into chemical energy in the leaf."


@dataclass
class Server:
    http: TestClient
    runtime: Runtime
    owner: dict[str, str]
    stranger: dict[str, str]
    dispatcher: RecordingDispatcher

    def course(self, name: str = "Bio") -> str:
        response = self.http.post("/api/v1/courses", json={"name": name}, headers=self.owner)
        assert response.status_code == 201, response.text
        course_id: str = response.json()["id"]
        return course_id

    def patch(self, course_id: str, body: dict[str, Any], **headers: str) -> Any:
        return self.http.patch(
            f"/api/v1/courses/{course_id}", json=body, headers={**self.owner, **headers}
        )

    def stored_mode(self, course_id: str) -> str | None:
        with unit_of_work(self.runtime.session_factory) as session:
            course = session.get(Course, course_id)
            assert course is not None
            return course.transcription_mode


def _server(settings: Settings) -> Iterator[Server]:
    dispatcher = RecordingDispatcher()
    runtime = build_runtime(settings, dispatcher)
    tokens = {}
    for email in ("o@example.org", "s@example.org"):
        with unit_of_work(runtime.session_factory) as session:
            create_user(session, email, PASSWORD)
        with unit_of_work(runtime.session_factory) as session:
            tokens[email] = {"Authorization": f"Bearer {create_token(session, email)}"}
    with TestClient(create_app(settings, runtime)) as http:
        yield Server(http, runtime, tokens["o@example.org"], tokens["s@example.org"], dispatcher)
    runtime.close()


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database=DatabaseSettings(url=SecretStr(database_url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[Server]:
    yield from _server(_settings(sqlite_url, tmp_path))


# --- API -----------------------------------------------------------------------------------


def test_patch_sets_and_clears_a_courses_mode(server: Server) -> None:
    course_id = server.course()
    shown = server.http.get(f"/api/v1/courses/{course_id}", headers=server.owner)
    assert shown.json()["transcription_mode"] is None
    etag = shown.headers["ETag"]

    fast = server.patch(course_id, {"transcription_mode": "fast"}, **{"If-Match": etag})
    assert fast.status_code == 200, fast.text
    assert fast.json()["transcription_mode"] == "fast"
    assert fast.headers["ETag"] != etag
    assert server.stored_mode(course_id) == "fast"
    listed = server.http.get("/api/v1/courses", headers=server.owner).json()
    assert [c["transcription_mode"] for c in listed] == ["fast"]

    # The old ETag is stale now: 412, nothing changed.
    stale = server.patch(course_id, {"transcription_mode": "accurate"}, **{"If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["code"] == "edit.conflict"
    assert server.stored_mode(course_id) == "fast"

    # A body without the field changes nothing; null goes back to the server's default.
    assert server.patch(course_id, {}).json()["transcription_mode"] == "fast"
    cleared = server.patch(course_id, {"transcription_mode": None})
    assert cleared.status_code == 200
    assert cleared.json()["transcription_mode"] is None
    assert server.stored_mode(course_id) is None


@pytest.mark.parametrize("value", ["slow", "FAST", "", "x" * 32])
def test_an_unknown_mode_is_refused_with_its_code_and_a_sentence(
    server: Server, value: str
) -> None:
    course_id = server.course()
    server.patch(course_id, {"transcription_mode": "fast"})

    answer = server.patch(course_id, {"transcription_mode": value})

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "transcription_mode.unknown"
    assert "Choose one of: fast, accurate" in error["message"]
    assert server.stored_mode(course_id) == "fast"


def test_patch_refuses_other_fields_and_other_peoples_courses(server: Server) -> None:
    course_id = server.course()
    other = server.patch(course_id, {"name": "Renamed"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "request.invalid"
    strangers = server.http.patch(
        f"/api/v1/courses/{course_id}",
        json={"transcription_mode": "fast"},
        headers=server.stranger,
    )
    assert strangers.status_code == 404
    assert server.stored_mode(course_id) is None


def test_a_course_preset_may_choose_a_mode_and_a_bad_one_is_refused(server: Server) -> None:
    course_id = server.course()
    body = {"name": "Captions, quick", "outputs": ["summary"], "transcription_mode": "fast"}
    made = server.http.post(f"/api/v1/courses/{course_id}/presets", json=body, headers=server.owner)
    assert made.status_code == 201, made.text
    assert made.json()["transcription_mode"] == "fast"
    listed = server.http.get(f"/api/v1/courses/{course_id}/presets", headers=server.owner).json()
    assert {p["key"]: p["transcription_mode"] for p in listed}[made.json()["key"]] == "fast"
    assert all(p["transcription_mode"] is None for p in listed if p["key"] in BUILTIN_PRESETS)

    bad = server.http.post(
        f"/api/v1/courses/{course_id}/presets",
        json={**body, "transcription_mode": "turbo"},
        headers=server.owner,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "transcription_mode.unknown"


# --- pages ---------------------------------------------------------------------------------


def _sign_in(
    server: Server, email: str = "o@example.org", client: TestClient | None = None
) -> None:
    sign_in(client or server.http, email)


def _form(server: Server, course_id: str) -> tuple[str, dict[str, str]]:
    return form_fields(server.http, f"/courses/{course_id}")


def _cards(body: str) -> dict[str, str]:
    """Each preset card's visible text, by preset key."""
    found = re.findall(r'data-preset="([^"]+)"(.*?)</a></li>', body, flags=re.DOTALL)
    return {key: visible_text(card) for key, card in found}


def test_the_course_page_sets_the_mode_and_the_cards_follow(server: Server) -> None:
    course_id = server.course()
    quick = BUILTIN_PRESETS["quick-review"]
    _sign_in(server)
    cards = _cards(server.http.get(f"/courses/{course_id}/new").text)
    assert set(cards) == set(BUILTIN_PRESETS)
    accurate_time = processing_sentence(quick, model="tiny.en", mode="accurate")
    assert "Accurate transcription" in cards["quick-review"]
    assert accurate_time in cards["quick-review"]

    body, hidden = _form(server, course_id)
    assert 'value="" checked' in body  # the server's default
    assert "This server's default (accurate)" in visible_text(body)
    saved = server.http.post(
        f"/courses/{course_id}/transcription",
        data={**hidden, "mode": "fast"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/courses/{course_id}?saved=transcription"
    assert server.stored_mode(course_id) == "fast"
    shown = server.http.get(saved.headers["location"])
    assert "Saved." in visible_text(shown.text)
    assert 'value="fast" checked' in shown.text

    cards = _cards(server.http.get(f"/courses/{course_id}/new").text)
    fast_time = processing_sentence(quick, model="tiny.en", mode="fast")
    assert fast_time != accurate_time
    for key in BUILTIN_PRESETS:
        assert "Fast transcription" in cards[key]
    assert fast_time in cards["quick-review"]
    capture = server.http.get(f"/courses/{course_id}/new/quick-review")
    assert capture.status_code == 200


def test_the_course_page_refuses_a_bad_mode_a_stale_form_and_no_csrf(server: Server) -> None:
    course_id = server.course()
    _sign_in(server)
    _, hidden = _form(server, course_id)

    bad = server.http.post(f"/courses/{course_id}/transcription", data={**hidden, "mode": "turbo"})
    assert bad.status_code == 422
    assert "Choose one of the transcription modes listed" in visible_text(bad.text)
    assert 'href="#mode"' in bad.text

    assert server.patch(course_id, {"transcription_mode": "accurate"}).status_code == 200
    stale = server.http.post(f"/courses/{course_id}/transcription", data={**hidden, "mode": "fast"})
    assert stale.status_code == 409
    assert "Someone changed this" in visible_text(stale.text)
    forged = server.http.post(
        f"/courses/{course_id}/transcription", data={"version": "", "mode": "fast"}
    )
    assert forged.status_code == 403
    assert server.stored_mode(course_id) == "accurate"

    stranger = TestClient(server.http.app)
    _sign_in(server, "s@example.org", stranger)
    token = CSRF_FIELD.search(stranger.get("/courses").text)
    assert token is not None
    theirs = stranger.post(
        f"/courses/{course_id}/transcription",
        data={"csrf_token": token.group(1), "version": "", "mode": "fast"},
    )
    assert theirs.status_code == 404
    assert server.stored_mode(course_id) == "accurate"


# --- the pipeline, with the real model -----------------------------------------------------


@pytest.fixture(params=BACKENDS)
def pipeline(
    request: pytest.FixtureRequest,
    new_database: Any,
    tmp_path: Path,
) -> Iterator[tuple[Server, StageRunner, Path]]:
    settings = _settings(new_database(request.param), tmp_path)
    settings = settings.model_copy(
        update={"transcription": TranscriptionSettings(data_dir=tmp_path / "models")}
    )
    for server in _server(settings):
        runner = StageRunner(
            queue=settings.queue,
            session_factory=server.runtime.session_factory,
            store=server.runtime.store,
            dispatcher=server.dispatcher,
            stages=build_stages(settings),
            metrics=server.runtime.metrics,
            resolve_preset=resolve_preset,
            on_transcript=index_transcript,
        )
        yield server, runner, synthesize_speech(SPOKEN, tmp_path / "clip.wav")


def _process(server: Server, runner: StageRunner, wav: Path, course_id: str, preset: str) -> Any:
    with wav.open("rb") as fh:
        response = server.http.post(
            f"/api/v1/courses/{course_id}/lectures",
            files={"file": ("clip.wav", fh, "audio/wav")},
            data={"preset": preset},
            headers=server.owner,
        )
    assert response.status_code == 202, response.text
    lecture_id = response.json()["id"]
    for _ in range(20):
        sent = server.dispatcher.take()
        if not sent:
            break
        for stage_run_id, _delay in sent:
            runner.run(stage_run_id)
    lecture = server.http.get(f"/api/v1/lectures/{lecture_id}", headers=server.owner).json()
    assert lecture["status"] == "succeeded", lecture["stages"]
    transcript = server.http.get(f"/api/v1/lectures/{lecture_id}/transcript", headers=server.owner)
    assert transcript.status_code == 200
    return transcript.json()


@pytest.mark.slow
def test_a_lecture_is_transcribed_in_the_preset_then_course_then_server_mode(
    pipeline: tuple[Server, StageRunner, Path],
) -> None:
    server, runner, wav = pipeline
    plain, quick = server.course("Plain"), server.course("Quick")
    assert server.patch(quick, {"transcription_mode": "fast"}).status_code == 200
    careful = server.http.post(
        f"/api/v1/courses/{quick}/presets",
        json={"name": "Careful", "outputs": ["summary"], "transcription_mode": "accurate"},
        headers=server.owner,
    ).json()["key"]

    by_default = _process(server, runner, wav, plain, "captions-only")
    by_course = _process(server, runner, wav, quick, "captions-only")
    by_preset = _process(server, runner, wav, quick, careful)

    expected = {"model": "tiny.en", "beam_size": 5, "compute_type": "int8"}
    assert by_default["recognizer"] == {**expected, "mode": "accurate"}
    assert by_course["recognizer"] == {**expected, "mode": "fast"}
    assert by_preset["recognizer"] == {**expected, "mode": "accurate"}
    for transcript in (by_default, by_course, by_preset):
        text = " ".join(s["text"] for s in transcript["segments"]).lower()
        assert "photosynthesis" in text
        assert "energy" in text
