"""``GET``/``HEAD /api/v1/lectures/{id}/audio``: the uploaded recording, whole and by Range,
on both columns (local files and S3 through moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("audio@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def lecture(learner: Api, recordings: Recordings) -> dict[str, Any]:
    course = learner.create_course("Listening")
    response = learner.upload(course["id"], recordings.lecture_m4a, content_type="audio/mp4")
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def source(recordings: Recordings) -> bytes:
    data = recordings.lecture_m4a.read_bytes()
    assert len(data) > 1000
    return data


def _audio(api: Api, lecture: dict[str, Any], **headers: str) -> httpx.Response:
    return api.client.get(f"/api/v1/lectures/{lecture['id']}/audio", headers=headers)


def test_the_whole_recording_is_the_uploaded_file(
    learner: Api, lecture: dict[str, Any], source: bytes
) -> None:
    response = _audio(learner, lecture)
    assert response.status_code == 200
    assert response.content == source
    assert response.headers["content-type"] == "audio/mp4"
    assert response.headers["content-length"] == str(len(source))
    assert response.headers["accept-ranges"] == "bytes"
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # the first 100 bytes
        ("bytes=500-1499", 500, 1499),  # a middle slice
        ("bytes=-300", -300, -1),  # the suffix
        ("bytes=1000-", 1000, -1),  # from an offset to the end
        ("bytes=-1", -1, -1),  # the last byte
    ],
)
def test_a_range_answers_206_with_exactly_those_bytes(
    learner: Api, lecture: dict[str, Any], source: bytes, header: str, first: int, last: int
) -> None:
    size = len(source)
    start, end = first % size, last % size
    response = _audio(learner, lecture, Range=header)
    assert response.status_code == 206, response.text
    assert response.content == source[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "audio/mp4"


def test_an_end_past_the_recording_is_cut_to_its_last_byte(
    learner: Api, lecture: dict[str, Any], source: bytes
) -> None:
    size = len(source)
    response = _audio(learner, lecture, Range=f"bytes={size - 10}-{size + 5000}")
    assert response.status_code == 206
    assert response.content == source[-10:]
    assert response.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{more}", "bytes=-0"])
def test_an_unsatisfiable_range_answers_416(
    learner: Api, lecture: dict[str, Any], source: bytes, header: str
) -> None:
    size = len(source)
    response = _audio(learner, lecture, Range=header.format(size=size, more=size + 10))
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.json()["error"]["code"] == "request.range_not_satisfiable"


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "bytes=9-3", "items=0-9", "bytes=x-"])
def test_several_or_invalid_ranges_get_the_whole_recording(
    learner: Api, lecture: dict[str, Any], source: bytes, header: str
) -> None:
    response = _audio(learner, lecture, Range=header)
    assert response.status_code == 200
    assert response.content == source


def test_if_range_with_another_etag_gets_the_whole_recording(
    learner: Api, lecture: dict[str, Any], source: bytes
) -> None:
    etag = _audio(learner, lecture, Range="bytes=0-0").headers["etag"]
    matching = _audio(learner, lecture, Range="bytes=0-9", **{"If-Range": etag})
    assert matching.status_code == 206
    assert matching.content == source[:10]
    stale = _audio(learner, lecture, Range="bytes=0-9", **{"If-Range": '"another"'})
    assert stale.status_code == 200
    assert stale.content == source


def test_head_gives_the_length_without_a_body(
    learner: Api, lecture: dict[str, Any], source: bytes
) -> None:
    url = f"/api/v1/lectures/{lecture['id']}/audio"
    whole = learner.client.head(url)
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(source))
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/mp4"
    assert whole.content == b""
    part = learner.client.head(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.headers["content-length"] == "10"
    assert part.headers["content-range"] == f"bytes 10-19/{len(source)}"


def test_another_users_recording_is_not_found(
    deployment: Deployment, learner: Api, lecture: dict[str, Any]
) -> None:
    other = Api(deployment, deployment.create_user("other-audio@example.org"))
    try:
        response = _audio(other, lecture, Range="bytes=0-99")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert other.client.head(f"/api/v1/lectures/{lecture['id']}/audio").status_code == 404
    finally:
        other.close()
    assert _audio(learner, {"id": "no-such-lecture"}).status_code == 404
    anonymous = httpx.get(f"{deployment.base_url}/api/v1/lectures/{lecture['id']}/audio")
    assert anonymous.status_code == 401
