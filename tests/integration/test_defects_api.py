"""Defects found by probing a running server, each checked against both columns where the
column matters: bounded metrics, NUL characters, quoted input, download names, upload limits."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pegasus_testkit.deployment import Api, Deployment, embedded_env, running
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("prober@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def course(learner: Api) -> dict[str, Any]:
    return learner.create_course("Probing 101")


@pytest.fixture(scope="module")
def lecture(learner: Api, course: dict[str, Any], recordings: Recordings) -> dict[str, Any]:
    """A processed lecture, titled like a path that escapes the download directory."""
    response = learner.upload(
        course["id"],
        recordings.lecture_wav,
        content_type="audio/wav",
        title="../../../etc/passwd",
    )
    assert response.status_code == 202, response.text
    done = learner.wait_for(response.json()["id"])
    assert done["status"] == "succeeded", done
    return done


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


# --- point 3: bounded metrics -----------------------------------------------------------------


def _http_series(base_url: str) -> list[str]:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    return sorted(line for line in text.splitlines() if line.startswith("pegasus_http_"))


def _invent(client: httpx.Client, count: int) -> None:
    for _ in range(count):
        token = secrets.token_hex(6).upper()
        client.request(f"X{token}", "/api/v1/courses")  # a route, an invented method
        client.request(f"Y{token}", f"/nowhere/{token}")  # no route, an invented method
        client.get(f"/api/v1/no-such-thing/{token.lower()}")  # no route
        client.get(f"/random-{token.lower()}?x={token}")  # no route


def test_invented_methods_and_paths_add_no_metric_series(deployment: Deployment) -> None:
    with httpx.Client(base_url=deployment.base_url, timeout=30) as client:
        _invent(client, 2)  # the one "other" and "unmatched" series each kind needs
        _http_series(deployment.base_url)  # so /metrics's own series exist before counting
        before = _http_series(deployment.base_url)
        _invent(client, 100)  # 400 requests, 200 invented methods, 300 invented paths
        after = _http_series(deployment.base_url)

    assert len(after) == len(before), sorted(set(after) - set(before))[:10]
    labels = " ".join(after)
    methods = set(re.findall(r'method="([^"]*)"', labels))
    assert "other" in methods
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    routes = set(re.findall(r'route="([^"]*)"', labels))
    assert "unmatched" in routes
    assert not [r for r in routes if "random-" in r or "no-such-thing" in r or "nowhere" in r]


# --- point 5: NUL characters are refused in every column ------------------------------------


def test_a_nul_in_a_course_name_is_refused(learner: Api) -> None:
    response = learner.client.post("/api/v1/courses", json={"name": "Bio\u0000logy"})

    message = _error(response, 422, "request.invalid")
    assert "NUL" in message
    names = [c["name"] for c in learner.client.get("/api/v1/courses").json()]
    assert not any("\x00" in name or name.startswith("Bio") for name in names)


def test_a_nul_in_a_lecture_title_form_field_is_refused(
    learner: Api, course: dict[str, Any], recordings: Recordings
) -> None:
    before = learner.client.get(f"/api/v1/courses/{course['id']}/lectures").json()

    response = learner.upload(
        course["id"], recordings.lecture_wav, content_type="audio/wav", title="Week\x001"
    )

    message = _error(response, 422, "request.invalid")
    assert "title holds a NUL character" in message
    after = learner.client.get(f"/api/v1/courses/{course['id']}/lectures").json()
    assert after == before


def test_nul_in_a_query_or_a_path_parameter_is_refused(learner: Api) -> None:
    assert "query string" in _error(
        learner.client.get("/api/v1/search", params={"q": "heat\x00death"}),
        422,
        "request.invalid",
    )
    assert "URL path" in _error(
        learner.client.get("/api/v1/lectures/abc%00def"), 422, "request.invalid"
    )


def test_a_nul_in_a_segment_edit_is_refused_and_nothing_changes(
    learner: Api, lecture: dict[str, Any]
) -> None:
    path = f"/api/v1/lectures/{lecture['id']}"
    before = learner.client.get(f"{path}/transcript").json()

    response = learner.client.patch(
        f"{path}/transcript/segments/0", json={"text": "the first\u0000 segment"}
    )

    message = _error(response, 422, "request.invalid")
    assert "NUL" in message
    assert learner.client.get(f"{path}/transcript").json() == before
    srt = learner.client.get(f"{path}/exports/srt")
    assert srt.status_code == 200
    assert b"\x00" not in srt.content


# --- point 5: what error messages quote, and download names --------------------------------


def test_an_unknown_preset_of_ten_thousand_characters_is_quoted_short(
    learner: Api, course: dict[str, Any], recordings: Recordings
) -> None:
    preset = "p" * 10_000

    response = learner.upload(
        course["id"], recordings.lecture_wav, content_type="audio/wav", preset=preset
    )

    message = _error(response, 422, "preset.unknown")
    assert "p" * 80 + "'…" in message
    assert "p" * 81 not in message
    assert len(response.content) < 2_000


def test_download_names_hold_no_path_separators(learner: Api, lecture: dict[str, Any]) -> None:
    response = learner.client.get(f"/api/v1/lectures/{lecture['id']}/exports/md")

    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    star = disposition.split("filename*=UTF-8''", 1)[1]
    assert "/" not in star
    assert "%2F" not in star.upper()
    assert "\\" not in star
    assert star == "_.._.._etc_passwd.md"


# --- point 5: over-size uploads, with and without a declared length --------------------------

MAX_UPLOAD_BYTES = 300_000


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """An embedded server whose upload limit is under 1 MiB."""
    root = tmp_path_factory.mktemp("small-limit")
    env = {**embedded_env(root), "PEGASUS_MEDIA_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    deployment = Deployment(name="small-limit", env=env, workdir=root)
    with running(deployment, workers=0, migrate=False) as server:  # a migrated clone already
        yield server


def _multipart(size: int) -> tuple[bytes, str]:
    boundary = "pegasus-probe-boundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="preset"\r\n\r\nquick-review\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + b"RIFF" + b"\0" * (size - 4) + tail, f"multipart/form-data; boundary={boundary}"


def _leftovers(deployment: Deployment) -> list[str]:
    root = Path(deployment.env["PEGASUS_STORAGE_ROOT"])
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            found.append(str(Path(dirpath, name).relative_to(root)))
    return found


@pytest.mark.parametrize(
    ("size", "declared"),
    [
        pytest.param(600_000, True, id="over-the-http-limit-with-content-length"),
        pytest.param(600_000, False, id="over-the-http-limit-chunked"),
        pytest.param(330_000, True, id="over-the-file-limit-with-content-length"),
        pytest.param(330_000, False, id="over-the-file-limit-chunked"),
    ],
)
def test_an_over_size_upload_is_media_too_large_and_leaves_nothing(
    small_limit: Deployment, size: int, declared: bool
) -> None:
    token = small_limit.create_user(f"uploader-{size}-{declared}@example.org")
    api = Api(small_limit, token)
    course = api.create_course("Limits")
    body, content_type = _multipart(size)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    try:
        response = api.client.post(
            f"/api/v1/courses/{course['id']}/lectures",
            content=body if declared else chunks(),
            headers={"Content-Type": content_type},
        )
    finally:
        api.close()

    message = _error(response, 413, "media.too_large")
    assert "(292.97 KiB)" in message
    assert "0 MiB" not in message
    assert _leftovers(small_limit) == []
