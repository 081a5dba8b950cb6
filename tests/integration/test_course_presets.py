"""A course's own presets: created, listed, used by uploads, private to the course."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
)
from pegasus.db.session import unit_of_work
from pegasus.runtime import build_runtime
from pegasus_testkit.lectures import Recordings


@pytest.fixture
def client(
    tmp_path: Path, sqlite_url: str
) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(sqlite_url)),  # a clone of the migrated template
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    runtime = build_runtime(settings)
    with unit_of_work(runtime.session_factory) as session:
        create_user(session, "a@example.org", "a long enough password")
        create_user(session, "b@example.org", "a long enough password")
        a = {"Authorization": f"Bearer {create_token(session, 'a@example.org')}"}
        b = {"Authorization": f"Bearer {create_token(session, 'b@example.org')}"}
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client, a, b


LAB_REVIEW = {
    "name": "Lab review",
    "outputs": ["summary", "key_terms", "flashcards"],
    "exports": ["md", "srt"],
    "flashcard_count": 5,
    "glossary": ["chlorophyll", "Calvin cycle", "  thylakoid  "],
}


def test_course_preset_is_listed_and_used(
    client: tuple[TestClient, dict[str, str], dict[str, str]], recordings: Recordings
) -> None:
    http, a, _ = client
    course = http.post("/api/v1/courses", json={"name": "Bio"}, headers=a).json()
    created = http.post(f"/api/v1/courses/{course['id']}/presets", json=LAB_REVIEW, headers=a)
    assert created.status_code == 201, created.text
    preset = created.json()
    assert preset["key"].startswith("lab-review-")
    assert preset["outputs"] == ["transcript", "summary", "key_terms", "flashcards"]
    assert preset["exports"] == ["md", "srt"]
    assert preset["glossary"] == ["Calvin cycle", "chlorophyll", "thylakoid"]
    assert preset["course_id"] == course["id"]
    listed = http.get(f"/api/v1/courses/{course['id']}/presets", headers=a).json()
    assert [p["key"] for p in listed][-1] == preset["key"]
    assert "quick-review" in [p["key"] for p in listed]
    assert preset["key"] not in [p["key"] for p in http.get("/api/v1/presets", headers=a).json()]
    with recordings.lecture_wav.open("rb") as fh:
        upload = http.post(
            f"/api/v1/courses/{course['id']}/lectures",
            files={"file": ("l.wav", fh, "audio/wav")},
            data={"preset": preset["key"]},
            headers=a,
        )
    assert upload.status_code == 202, upload.text
    assert upload.json()["preset"] == preset["key"]


def test_another_courses_preset_is_unknown(
    client: tuple[TestClient, dict[str, str], dict[str, str]], recordings: Recordings
) -> None:
    http, a, b = client
    course_a = http.post("/api/v1/courses", json={"name": "A"}, headers=a).json()
    course_b = http.post("/api/v1/courses", json={"name": "B"}, headers=b).json()
    key = http.post(f"/api/v1/courses/{course_a['id']}/presets", json=LAB_REVIEW, headers=a).json()[
        "key"
    ]
    with recordings.lecture_wav.open("rb") as fh:
        upload = http.post(
            f"/api/v1/courses/{course_b['id']}/lectures",
            files={"file": ("l.wav", fh, "audio/wav")},
            data={"preset": key},
            headers=b,
        )
    assert upload.status_code == 422
    error = upload.json()["error"]
    assert error["code"] == "preset.unknown"
    assert "quick-review" in error["message"]
    assert key not in error["message"].split("Choose one of:")[1]
    listed = http.get(f"/api/v1/courses/{course_a['id']}/presets", headers=b)
    assert listed.status_code == 404


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"outputs": ["summary", "mind_map"]}, "mind_map"),
        ({"exports": ["docx"]}, "docx"),
        ({"flashcard_count": 1000}, "flashcard_count"),
        ({"glossary": ["x" * 61]}, "60 characters"),
    ],
)
def test_invalid_preset_is_refused_with_the_reason(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
    change: dict[str, object],
    fragment: str,
) -> None:
    http, a, _ = client
    course = http.post("/api/v1/courses", json={"name": "C"}, headers=a).json()
    response = http.post(
        f"/api/v1/courses/{course['id']}/presets", json={**LAB_REVIEW, **change}, headers=a
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request.invalid"
    assert fragment in response.json()["error"]["message"]


def test_a_lecture_being_processed_cannot_be_edited(
    client: tuple[TestClient, dict[str, str], dict[str, str]], recordings: Recordings
) -> None:
    http, a, _ = client  # no workers run here, so the lecture stays queued
    course = http.post("/api/v1/courses", json={"name": "Busy"}, headers=a).json()
    with recordings.lecture_wav.open("rb") as fh:
        lecture = http.post(
            f"/api/v1/courses/{course['id']}/lectures",
            files={"file": ("l.wav", fh, "audio/wav")},
            headers=a,
        ).json()
    base = f"/api/v1/lectures/{lecture['id']}"
    for response in (
        http.patch(f"{base}/transcript/segments/0", json={"text": "x"}, headers=a),
        http.delete(f"{base}/flashcards/abc", headers=a),
        http.post(f"{base}/regenerate", headers=a),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "lecture.busy"
    assert http.get(f"{base}/kit", headers=a).status_code == 404
