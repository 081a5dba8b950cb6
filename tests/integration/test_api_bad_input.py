"""Bad input gets a specific error, never a 500, and nothing already stored is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("careful@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def stranger(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("stranger@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def course(learner: Api) -> dict[str, Any]:
    return learner.create_course("Chemistry")


@pytest.fixture(scope="module")
def good_lecture(learner: Api, course: dict[str, Any], recordings: Recordings) -> dict[str, Any]:
    """A lecture that succeeded before the bad uploads: it must survive all of them."""
    response = learner.upload(course["id"], recordings.lecture_wav, content_type="audio/wav")
    assert response.status_code == 202, response.text
    lecture = learner.wait_for(response.json()["id"])
    assert lecture["status"] == "succeeded", lecture
    return lecture


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert len(error["message"]) > 20, "the message should tell the person what to do"
    message: str = error["message"]
    return message


def _assert_good_lecture_intact(learner: Api, lecture: dict[str, Any]) -> None:
    again = learner.lecture(lecture["id"])
    assert again["status"] == "succeeded"
    assert again["stages"] == lecture["stages"]
    for fmt in ("md", "json", "srt", "vtt"):
        response = learner.client.get(f"/api/v1/lectures/{lecture['id']}/exports/{fmt}")
        assert response.status_code == 200, (fmt, response.text)
        assert len(response.content) > 50


def _lecture_ids(learner: Api, course_id: str) -> set[str]:
    return {lec["id"] for lec in learner.client.get(f"/api/v1/courses/{course_id}/lectures").json()}


def _stored_objects(deployment: Deployment) -> list[str]:
    """Every object in the deployment's storage, read straight from the store (the files under
    the local root, or the S3 bucket's keys plus any multipart upload left open)."""
    env = deployment.env
    if env["PEGASUS_STORAGE_BACKEND"] == "local":
        root = Path(env["PEGASUS_STORAGE_ROOT"])
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    secret = Path(env["PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE"]).read_text(encoding="utf-8")
    s3 = boto3.client(
        "s3",
        endpoint_url=env["PEGASUS_STORAGE_S3_ENDPOINT_URL"],
        aws_access_key_id=env["PEGASUS_STORAGE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=secret.strip(),
        region_name="us-east-1",
    )
    try:
        bucket = env["PEGASUS_STORAGE_S3_BUCKET"]
        keys = [
            obj["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
        ]
        pending = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return sorted(keys + [f"(multipart) {u['Key']}" for u in pending])
    finally:
        s3.close()


def test_empty_file_is_refused_before_anything_is_stored(
    learner: Api,
    course: dict[str, Any],
    good_lecture: dict[str, Any],
    recordings: Recordings,
    deployment: Deployment,
) -> None:
    before = _lecture_ids(learner, course["id"])
    objects = _stored_objects(deployment)
    assert any(good_lecture["id"] in key for key in objects), "the store is read where it is"
    response = learner.upload(course["id"], recordings.empty_m4a, content_type="audio/mp4")
    message = _error(response, 422, "media.empty")
    assert "empty" in message.lower()
    assert _lecture_ids(learner, course["id"]) == before
    assert _stored_objects(deployment) == objects
    _assert_good_lecture_intact(learner, good_lecture)


@pytest.mark.parametrize(
    ("fixture", "code"),
    [("text_as_mp3", "media.unsupported_format"), ("truncated_m4a", "media.corrupt")],
)
def test_undecodable_upload_fails_ingest_with_its_code_and_can_be_retried(
    learner: Api,
    course: dict[str, Any],
    good_lecture: dict[str, Any],
    recordings: Recordings,
    fixture: str,
    code: str,
) -> None:
    path: Path = getattr(recordings, fixture)
    response = learner.upload(course["id"], path, content_type="audio/mpeg")
    assert response.status_code == 202, response.text
    lecture = learner.wait_for(response.json()["id"])
    assert lecture["status"] == "failed"
    assert [s["stage"] for s in lecture["stages"]] == ["ingest"]
    ingest = lecture["stages"][0]
    assert ingest["status"] == "failed"
    assert ingest["error"]["code"] == code
    assert ingest["attempt"] == 1, "a permanent error must not be retried automatically"

    retried = learner.client.post(f"/api/v1/lectures/{lecture['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["stages"][0]["attempt"] == 2
    again = learner.wait_for(lecture["id"])
    assert again["status"] == "failed"
    assert again["stages"][0]["error"]["code"] == code
    assert again["stages"][0]["attempt"] == 2
    _assert_good_lecture_intact(learner, good_lecture)


def test_unknown_preset_names_the_valid_ones(
    learner: Api,
    course: dict[str, Any],
    good_lecture: dict[str, Any],
    recordings: Recordings,
    deployment: Deployment,
) -> None:
    before = _lecture_ids(learner, course["id"])
    objects = _stored_objects(deployment)
    response = learner.upload(course["id"], recordings.lecture_wav, preset="speed-read")
    message = _error(response, 422, "preset.unknown")
    assert "quick-review" in message
    assert "speed-read" in message
    assert _lecture_ids(learner, course["id"]) == before
    assert _stored_objects(deployment) == objects
    _assert_good_lecture_intact(learner, good_lecture)


def test_another_users_things_answer_404(
    learner: Api,
    stranger: Api,
    course: dict[str, Any],
    good_lecture: dict[str, Any],
    recordings: Recordings,
) -> None:
    _error(stranger.client.get(f"/api/v1/courses/{course['id']}"), 404, "not_found")
    _error(stranger.client.get(f"/api/v1/courses/{course['id']}/lectures"), 404, "not_found")
    upload = stranger.upload(course["id"], recordings.lecture_wav)
    _error(upload, 404, "not_found")
    lecture_id = good_lecture["id"]
    for path in ("", "/transcript", "/exports/md"):
        _error(stranger.client.get(f"/api/v1/lectures/{lecture_id}{path}"), 404, "not_found")
    _error(stranger.client.post(f"/api/v1/lectures/{lecture_id}/retry"), 404, "not_found")
    assert stranger.client.get("/api/v1/courses").json() == []
    _assert_good_lecture_intact(learner, good_lecture)


def test_missing_or_wrong_token_is_401(learner: Api) -> None:
    anonymous = learner.client.get("/api/v1/courses", headers={"Authorization": ""})
    _error(anonymous, 401, "auth.required")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong = learner.client.get("/api/v1/courses", headers={"Authorization": "Bearer pgs_nope"})
    _error(wrong, 401, "auth.required")


@pytest.mark.parametrize(
    "excess",
    [
        pytest.param(200_000, id="refused-by-content-length"),
        pytest.param(10_000, id="refused-while-streaming"),
    ],
)
def test_oversized_upload_is_413_and_not_stored(
    learner: Api,
    course: dict[str, Any],
    good_lecture: dict[str, Any],
    deployment: Deployment,
    excess: int,
) -> None:
    limit = int(deployment.env["PEGASUS_MEDIA_MAX_UPLOAD_BYTES"])
    big = deployment.workdir / "big.wav"
    big.write_bytes(b"RIFF" + b"\0" * (limit + excess))
    before = _lecture_ids(learner, course["id"])
    objects = _stored_objects(deployment)
    _error(learner.upload(course["id"], big, content_type="audio/wav"), 413, "media.too_large")
    assert _lecture_ids(learner, course["id"]) == before
    assert _stored_objects(deployment) == objects
    _assert_good_lecture_intact(learner, good_lecture)


def test_invalid_json_body_is_422_not_500(learner: Api) -> None:
    response = learner.client.post("/api/v1/courses", json={"title": "no name field"})
    message = _error(response, 422, "request.invalid")
    assert "name" in message


def test_an_upload_without_a_file_part_is_422_and_not_stored(
    learner: Api, course: dict[str, Any], deployment: Deployment
) -> None:
    """The contract test lets the upload accept type-mutated form values (on the wire they are
    text and bytes); a form with no file at all is refused here instead."""
    before = _lecture_ids(learner, course["id"])
    objects = _stored_objects(deployment)
    response = learner.client.post(
        f"/api/v1/courses/{course['id']}/lectures",
        data={"title": "No recording", "preset": "quick-review"},
        files={"notes": ("notes.txt", b"not the file field", "text/plain")},
    )
    message = _error(response, 422, "request.invalid")
    assert "file" in message
    assert _lecture_ids(learner, course["id"]) == before
    assert _stored_objects(deployment) == objects
