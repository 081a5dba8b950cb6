"""Resumable uploads over tus 1.0 at /api/v1/uploads, on both columns of the design."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from sqlalchemy import create_engine, select, update

from pegasus.db.base import utcnow
from pegasus.db.models import Upload
from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings

TUS = {"Tus-Resumable": "1.0.0"}
PATCH_HEADERS = {**TUS, "Content-Type": "application/offset+octet-stream"}
MAX_UPLOAD = 8 * 1024 * 1024  # PEGASUS_MEDIA_MAX_UPLOAD_BYTES of the test deployments


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[Api]:
    token = deployment.create_user(f"tus-{deployment.name}@example.org")
    client = Api(deployment, token)
    yield client
    client.close()


@pytest.fixture(scope="module")
def course(api: Api) -> dict[str, Any]:
    return api.create_course("Biology")


def create(api: Api, course_id: str, length: int, **extra: str) -> httpx.Response:
    return api.client.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(course_id=course_id, **extra),
        },
    )


def created_url(api: Api, course_id: str, length: int, **extra: str) -> str:
    response = create(api, course_id, length, **extra)
    assert response.status_code == 201, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    location = response.headers["Location"]
    assert location.startswith("/api/v1/uploads/")
    return location


def offset_of(api: Api, url: str) -> int:
    response = api.client.head(url, headers=TUS)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return int(response.headers["Upload-Offset"])


def patch(api: Api, url: str, offset: int, data: bytes) -> httpx.Response:
    return api.client.patch(
        url, content=data, headers={**PATCH_HEADERS, "Upload-Offset": str(offset)}
    )


def send_in_chunks(api: Api, url: str, data: bytes, chunk: int) -> httpx.Response:
    offset = offset_of(api, url)
    response: httpx.Response | None = None
    while offset < len(data):
        response = patch(api, url, offset, data[offset : offset + chunk])
        assert response.status_code == 204, response.text
        assert response.headers["Tus-Resumable"] == "1.0.0"
        offset = int(response.headers["Upload-Offset"])
    assert response is not None
    return response


def raw_patch_cut_off(
    deployment: Deployment, token: str, url: str, offset: int, body: bytes, send: int
) -> None:
    """Declare all of ``body`` but send only ``send`` bytes of it, then drop the connection."""
    parts = urlsplit(deployment.base_url)
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + body[:send])
        time.sleep(0.5)  # let the server write what it got


def stored_object(deployment: Deployment, key: str) -> bytes | None:
    """The object under ``key`` read straight from the deployment's storage, or None."""
    if deployment.env["PEGASUS_STORAGE_BACKEND"] == "local":
        path = Path(deployment.env["PEGASUS_STORAGE_ROOT"]).joinpath(*key.split("/"))
        return path.read_bytes() if path.is_file() else None
    client = s3_client(deployment)
    try:
        body = client.get_object(Bucket=deployment.env["PEGASUS_STORAGE_S3_BUCKET"], Key=key)
    except client.exceptions.NoSuchKey:
        return None
    data: bytes = body["Body"].read()
    return data


def stored_keys(deployment: Deployment, prefix: str) -> list[str]:
    if deployment.env["PEGASUS_STORAGE_BACKEND"] == "local":
        root = Path(deployment.env["PEGASUS_STORAGE_ROOT"])
        base = root.joinpath(*prefix.rstrip("/").split("/"))
        if not base.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())
    client = s3_client(deployment)
    listing = client.list_objects_v2(
        Bucket=deployment.env["PEGASUS_STORAGE_S3_BUCKET"], Prefix=prefix
    )
    return sorted(item["Key"] for item in listing.get("Contents", []))


def open_multipart_uploads(deployment: Deployment) -> set[str]:
    """Ids of the S3 multipart uploads still open in the deployment's bucket."""
    if deployment.env["PEGASUS_STORAGE_BACKEND"] == "local":
        return set()
    client = s3_client(deployment)
    listing = client.list_multipart_uploads(Bucket=deployment.env["PEGASUS_STORAGE_S3_BUCKET"])
    return {item["UploadId"] for item in listing.get("Uploads", [])}


def storage_state(deployment: Deployment, upload_id: str) -> dict[str, Any]:
    """The upload row's storage state, read from the deployment's database."""
    engine = create_engine(deployment.env["PEGASUS_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            state: dict[str, Any] = connection.execute(
                select(Upload.storage_state).where(Upload.id == upload_id)
            ).scalar_one()
    finally:
        engine.dispose()
    return state


def s3_client(deployment: Deployment) -> Any:
    secret = Path(deployment.env["PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE"]).read_text().strip()
    return boto3.client(
        "s3",
        endpoint_url=deployment.env["PEGASUS_STORAGE_S3_ENDPOINT_URL"],
        aws_access_key_id=deployment.env["PEGASUS_STORAGE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )


def source_key(api: Api, lecture_id: str) -> str:
    lecture = api.lecture(lecture_id)
    return f"courses/{lecture['course_id']}/lectures/{lecture_id}/source"


def token_of(api: Api) -> str:
    return api.client.headers["Authorization"].removeprefix("Bearer ")


# --- protocol surface ---------------------------------------------------------------------


def test_options_describes_the_server(api: Api) -> None:
    response = api.client.options("/api/v1/uploads")
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Extension"] == "creation,expiration,termination"
    assert response.headers["Tus-Max-Size"] == str(MAX_UPLOAD)


def test_another_protocol_version_is_refused_with_412(api: Api, course: dict[str, Any]) -> None:
    response = api.client.post(
        "/api/v1/uploads",
        headers={
            "Tus-Resumable": "0.2.2",
            "Upload-Length": "10",
            "Upload-Metadata": metadata(course_id=course["id"]),
        },
    )
    assert response.status_code == 412
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.json()["error"]["code"] == "upload.version"


def test_creation_checks_size_course_and_preset_first(
    api: Api, course: dict[str, Any], deployment: Deployment
) -> None:
    too_large = create(api, course["id"], MAX_UPLOAD + 1)
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "media.too_large"
    assert too_large.headers["Tus-Resumable"] == "1.0.0"
    unknown_course = create(api, "no-such-course", 10)
    assert unknown_course.status_code == 404
    other = Api(deployment, deployment.create_user(f"other-{deployment.name}@example.org"))
    try:
        theirs = create(other, course["id"], 10)
        assert theirs.status_code == 404
    finally:
        other.close()
    unknown_preset = create(api, course["id"], 10, preset="no-such-preset")
    assert unknown_preset.status_code == 422
    assert unknown_preset.json()["error"]["code"] == "preset.unknown"
    assert stored_keys(deployment, "uploads/") == []


def test_unauthenticated_requests_are_refused(api: Api, deployment: Deployment) -> None:
    response = httpx.post(
        f"{deployment.base_url}/api/v1/uploads", headers={**TUS, "Upload-Length": "5"}
    )
    assert response.status_code == 401
    assert response.headers["Tus-Resumable"] == "1.0.0"


# --- the journey ----------------------------------------------------------------------------


def test_upload_in_chunks_becomes_a_lecture_that_succeeds(
    api: Api, course: dict[str, Any], recordings: Recordings, deployment: Deployment
) -> None:
    data = recordings.lecture_m4a.read_bytes()
    url = created_url(
        api,
        course["id"],
        len(data),
        filename="lecture.m4a",
        filetype="audio/mp4",
        preset="quick-review",
        title="Photosynthesis",
    )
    assert offset_of(api, url) == 0
    chunk = len(data) // 3 + 1
    last = send_in_chunks(api, url, data, chunk)
    lecture_id = last.headers["Pegasus-Lecture-Id"]
    head = api.client.head(url, headers=TUS)
    assert head.headers["Pegasus-Lecture-Id"] == lecture_id
    assert head.headers["Upload-Offset"] == str(len(data))
    lecture = api.wait_for(lecture_id)
    assert lecture["status"] == "succeeded", lecture
    assert lecture["title"] == "Photosynthesis"
    stored = stored_object(deployment, source_key(api, lecture_id))
    assert stored is not None
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    upload_id = url.rsplit("/", 1)[1]
    assert stored_keys(deployment, f"uploads/{upload_id}/") == []


def test_an_upload_cut_off_midway_resumes_from_the_server_offset(
    api: Api, course: dict[str, Any], deployment: Deployment
) -> None:
    data = os.urandom(MAX_UPLOAD)  # a whole S3 part and more than one PATCH
    url = created_url(api, course["id"], len(data), filename="noise.bin")
    raw_patch_cut_off(deployment, token_of(api), url, 0, data, send=3 * 1024 * 1024 + 123)
    offset = _wait_for_offset(api, url)
    assert 0 < offset <= 3 * 1024 * 1024 + 123
    # Resending from the server's offset completes the file byte for byte.
    last = send_in_chunks(api, url, data, 2 * 1024 * 1024 + 7)
    lecture_id = last.headers["Pegasus-Lecture-Id"]
    stored = stored_object(deployment, source_key(api, lecture_id))
    assert stored is not None
    assert len(stored) == len(data)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    state = storage_state(deployment, url.rsplit("/", 1)[1])
    assert state.get("upload_id") not in open_multipart_uploads(deployment)
    if deployment.name == "scaled":
        assert len(state["parts"]) == 1  # one whole 8 MiB part, sent over several PATCHes


def _wait_for_offset(api: Api, url: str) -> int:
    deadline = time.monotonic() + 10
    offset = offset_of(api, url)
    while offset == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        offset = offset_of(api, url)
    return offset


def test_a_wrong_offset_gets_409_and_changes_nothing(api: Api, course: dict[str, Any]) -> None:
    url = created_url(api, course["id"], 100)
    assert patch(api, url, 0, b"a" * 40).status_code == 204
    stale = patch(api, url, 0, b"b" * 40)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "upload.offset_mismatch"
    ahead = patch(api, url, 60, b"c" * 40)
    assert ahead.status_code == 409
    assert offset_of(api, url) == 40


def test_bytes_past_the_length_get_413_and_none_is_kept(api: Api, course: dict[str, Any]) -> None:
    url = created_url(api, course["id"], 100)
    assert patch(api, url, 0, b"a" * 60).status_code == 204
    over = patch(api, url, 60, b"b" * 41)
    assert over.status_code == 413
    assert offset_of(api, url) == 60
    chunked = api.client.patch(
        url,
        content=iter([b"c" * 30, b"d" * 30]),  # no Content-Length: counted as it arrives
        headers={**PATCH_HEADERS, "Upload-Offset": "60"},
    )
    assert chunked.status_code == 413
    assert offset_of(api, url) == 60


def test_a_patch_needs_the_offset_content_type(api: Api, course: dict[str, Any]) -> None:
    url = created_url(api, course["id"], 10)
    response = api.client.patch(
        url,
        content=b"x" * 10,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 415
    assert offset_of(api, url) == 0


def test_a_racing_patch_gets_409_and_the_upload_stays_whole(
    api: Api, course: dict[str, Any], deployment: Deployment
) -> None:
    data = os.urandom(200_000)
    url = created_url(api, course["id"], len(data))
    parts = urlsplit(deployment.base_url)
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token_of(api)}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + data[:50_000])  # the original request, still sending
        time.sleep(0.5)
        rival = patch(api, url, 0, data)  # a retry racing it
        assert rival.status_code == 409, rival.text
        assert rival.json()["error"]["code"] == "upload.busy"
        sock.sendall(data[50_000:])
        reply = sock.recv(4096).decode("latin-1")
    assert reply.startswith("HTTP/1.1 204"), reply
    assert f"upload-offset: {len(data)}" in reply.lower()
    lecture_id = api.client.head(url, headers=TUS).headers["Pegasus-Lecture-Id"]
    stored = stored_object(deployment, source_key(api, lecture_id))
    assert stored == data


def test_termination_removes_bytes_and_row(
    api: Api, course: dict[str, Any], deployment: Deployment
) -> None:
    url = created_url(api, course["id"], 100)
    assert patch(api, url, 0, b"a" * 50).status_code == 204
    upload_id = url.rsplit("/", 1)[1]
    assert stored_keys(deployment, f"uploads/{upload_id}/") != []
    deleted = api.client.delete(url, headers=TUS)
    assert deleted.status_code == 204
    assert deleted.headers["Tus-Resumable"] == "1.0.0"
    assert api.client.head(url, headers=TUS).status_code == 404
    assert patch(api, url, 50, b"b" * 50).status_code == 404
    assert stored_keys(deployment, f"uploads/{upload_id}/") == []


def test_an_expired_upload_is_swept_away(
    api: Api, course: dict[str, Any], deployment: Deployment
) -> None:
    url = created_url(api, course["id"], 100)
    response = patch(api, url, 0, b"a" * 50)
    assert response.status_code == 204
    assert "GMT" in response.headers["Upload-Expires"]
    upload_id = url.rsplit("/", 1)[1]
    assert stored_keys(deployment, f"uploads/{upload_id}/") != []
    multipart = storage_state(deployment, upload_id).get("upload_id")
    if deployment.name == "scaled":
        assert multipart in open_multipart_uploads(deployment)
    _expire(deployment, upload_id)
    gone = patch(api, url, 50, b"b" * 50)
    assert gone.status_code in (404, 410), gone.text
    deadline = time.monotonic() + 20  # the sweep runs with the reconciler, every second here
    while api.client.head(url, headers=TUS).status_code != 404:
        assert time.monotonic() < deadline, deployment.logs()
        time.sleep(0.3)
    assert stored_keys(deployment, f"uploads/{upload_id}/") == []
    assert multipart not in open_multipart_uploads(deployment)


def _expire(deployment: Deployment, upload_id: str) -> None:
    url = deployment.env["PEGASUS_DATABASE_URL"]
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(Upload)
                .where(Upload.id == upload_id)
                .values(expires_at=utcnow() - timedelta(minutes=1))
            )
    finally:
        engine.dispose()


def test_any_tus_client_works_tuspy(
    api: Api, course: dict[str, Any], recordings: Recordings, deployment: Deployment
) -> None:
    from tusclient import client as tus_client

    client = tus_client.TusClient(
        f"{deployment.base_url}/api/v1/uploads",
        headers={"Authorization": f"Bearer {token_of(api)}"},
    )
    data = recordings.lecture_wav.read_bytes()
    uploader = client.uploader(
        file_stream=_stream(data),
        chunk_size=64 * 1024,
        metadata={"course_id": course["id"], "filename": "lecture.wav", "filetype": "audio/wav"},
        store_url=False,
    )
    uploader.upload()
    assert uploader.offset == len(data)
    assert uploader.url is not None
    head = api.client.head(uploader.url, headers=TUS)
    lecture_id = head.headers["Pegasus-Lecture-Id"]
    stored = stored_object(deployment, source_key(api, lecture_id))
    assert stored is not None
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()


def _stream(data: bytes) -> Any:
    import io

    return io.BytesIO(data)
