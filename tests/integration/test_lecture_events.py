"""``GET /api/v1/lectures/{id}/events`` (Server-Sent Events) against real servers, both columns.

The stream is read as raw text and parsed here, the way a browser's EventSource would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

STAGES = ["ingest", "transcribe", "generate", "export"]


@dataclass
class Block:
    """One SSE block: its fields in order (comments as ``("", text)``)."""

    fields: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        values = [value for key, value in self.fields if key == name]
        return "\n".join(values) if values else None


def parse_blocks(lines: Iterator[str]) -> Iterator[Block]:
    """SSE blocks from the stream's lines (RFC-style parsing: ``name: value``, ``: comment``)."""
    block = Block()
    for line in lines:
        if line == "":
            if block.fields:
                yield block
            block = Block()
            continue
        name, _, value = line.partition(":")
        block.fields.append((name, value.removeprefix(" ")))
    if block.fields:
        yield block


@dataclass
class Stream:
    status_code: int
    headers: httpx.Headers
    blocks: list[Block]
    seconds: float

    @property
    def lectures(self) -> list[dict[str, Any]]:
        found = []
        for block in self.blocks:
            data = block.get("data")
            if data is not None:
                assert block.get("event") == "lecture", block
                found.append(json.loads(data))
        return found


def read_stream(
    api: Api, lecture_id: str, *, limit: int | None = None, headers: dict[str, str] | None = None
) -> Stream:
    """Read the event stream until the server closes it (or ``limit`` lecture events)."""
    started = time.monotonic()
    blocks: list[Block] = []
    with api.client.stream(
        "GET", f"/api/v1/lectures/{lecture_id}/events", headers=headers or {}, timeout=300
    ) as response:
        if response.status_code == 200:
            for block in parse_blocks(response.iter_lines()):
                blocks.append(block)
                if limit is not None and sum(b.get("data") is not None for b in blocks) >= limit:
                    break
        else:
            response.read()
        return Stream(response.status_code, response.headers, blocks, time.monotonic() - started)


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("events@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def course(learner: Api) -> dict[str, Any]:
    return learner.create_course("Live status")


def _upload(learner: Api, course: dict[str, Any], recordings: Recordings) -> str:
    response = learner.upload(course["id"], recordings.lecture_m4a, content_type="audio/mp4")
    assert response.status_code == 202, response.text
    lecture_id: str = response.json()["id"]
    return lecture_id


@pytest.fixture(scope="module")
def watched(learner: Api, course: dict[str, Any], recordings: Recordings) -> tuple[str, Stream]:
    """A lecture uploaded and watched over its event stream from the start until it closed."""
    lecture_id = _upload(learner, course, recordings)
    return lecture_id, read_stream(learner, lecture_id)


def test_the_stream_shows_the_stages_progress_and_ends_with_succeeded(
    learner: Api, watched: tuple[str, Stream]
) -> None:
    lecture_id, stream = watched
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    # retry first, then only lecture events (keep-alive comments may come in between).
    assert stream.blocks[0].fields == [("retry", "3000")]
    lectures = stream.lectures
    assert len(lectures) >= 3, lectures
    assert all(lec["id"] == lecture_id for lec in lectures)
    assert lectures[0]["status"] in ("queued", "processing")
    assert lectures[-1]["status"] == "succeeded"
    assert all(lec["status"] != "succeeded" for lec in lectures[:-1])
    # Stages appear in pipeline order as they are reached, each finishing before the next.
    seen = [[s["stage"] for s in lec["stages"]] for lec in lectures]
    assert seen[0] == ["ingest"]
    assert seen[-1] == STAGES
    assert all(STAGES[: len(names)] == names for names in seen)
    assert [len(names) for names in seen] == sorted(len(names) for names in seen)
    assert any(s["status"] in ("queued", "running") for lec in lectures for s in lec["stages"])
    assert all(s["status"] == "succeeded" for s in lectures[-1]["stages"])
    # Every event is a new state with its own id; the last equals what GET says.
    ids = [b.get("id") for b in stream.blocks if b.get("data") is not None]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    assert lectures[-1] == learner.lecture(lecture_id)
    comments = [b for b in stream.blocks if b.fields[0][0] == ""]
    assert all(b.fields == [("", "keep-alive")] for b in comments)


def test_a_client_attached_later_gets_the_current_state_at_once(
    learner: Api, course: dict[str, Any], recordings: Recordings, watched: tuple[str, Stream]
) -> None:
    lecture_id, first = watched
    later = read_stream(learner, lecture_id)
    assert later.status_code == 200
    assert later.seconds < 3.0, later.seconds
    assert later.lectures == [learner.lecture(lecture_id)]
    assert later.lectures[0]["status"] == "succeeded"
    # An EventSource reconnecting with the finished state's id is told to stop (204).
    last_id = [b.get("id") for b in first.blocks if b.get("id")][-1]
    assert last_id is not None
    done = read_stream(learner, lecture_id, headers={"Last-Event-ID": last_id})
    assert done.status_code == 204
    # While a lecture is processing, a new client's first event is the state right now.
    processing = _upload(learner, course, recordings)
    learner.wait_for(processing, statuses=("processing", "succeeded", "failed"))
    attached = read_stream(learner, processing, limit=1)
    assert attached.seconds < 3.0, attached.seconds
    now = learner.lecture(processing)
    got = attached.lectures[0]
    assert got["id"] == processing
    assert [s["stage"] for s in got["stages"]] == [s["stage"] for s in now["stages"]][
        : len(got["stages"])
    ]
    learner.wait_for(processing)


def test_another_users_lecture_is_not_found(
    deployment: Deployment, learner: Api, watched: tuple[str, Stream]
) -> None:
    lecture_id, _ = watched
    other = Api(deployment, deployment.create_user("other-events@example.org"))
    try:
        response = read_stream(other, lecture_id)
        assert response.status_code == 404
        assert response.blocks == []
        missing = read_stream(learner, "no-such-lecture")
        assert missing.status_code == 404
    finally:
        other.close()
    anonymous = httpx.get(f"{deployment.base_url}/api/v1/lectures/{lecture_id}/events")
    assert anonymous.status_code == 401


async def _watch(client: httpx.AsyncClient, lecture_id: str) -> list[dict[str, Any]]:
    lectures = []
    async with client.stream("GET", f"/api/v1/lectures/{lecture_id}/events") as response:
        assert response.status_code == 200, await response.aread()
        lines: list[str] = []
        async for line in response.aiter_lines():
            lines.append(line)
        for block in parse_blocks(iter(lines)):
            data = block.get("data")
            if data is not None:
                lectures.append(json.loads(data))
    return lectures


async def _poll(client: httpx.AsyncClient, lecture_id: str, stop: asyncio.Event) -> list[int]:
    statuses = []
    while not stop.is_set():
        started = time.monotonic()
        for path in (f"/api/v1/lectures/{lecture_id}", "/api/v1/courses", "/healthz"):
            statuses.append((await client.get(path)).status_code)
        assert time.monotonic() - started < 10, "an ordinary GET stalled behind the streams"
        await asyncio.sleep(0.2)
    return statuses


def test_150_streams_and_ordinary_requests_while_a_lecture_processes(
    deployment: Deployment, learner: Api, course: dict[str, Any], recordings: Recordings
) -> None:
    if deployment.name != "embedded":
        pytest.skip("the classroom load is specified for the embedded default (SQLite)")
    lecture_id = _upload(learner, course, recordings)
    token = learner.client.headers["Authorization"]

    async def classroom() -> tuple[list[list[dict[str, Any]]], list[int]]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=20)
        async with httpx.AsyncClient(
            base_url=deployment.base_url,
            headers={"Authorization": token},
            timeout=httpx.Timeout(30, read=60),
            limits=limits,
        ) as client:
            stop = asyncio.Event()
            poller = asyncio.create_task(_poll(client, lecture_id, stop))
            streams = await asyncio.gather(*(_watch(client, lecture_id) for _ in range(150)))
            stop.set()
            return streams, await poller

    started = time.monotonic()
    streams, statuses = asyncio.run(classroom())
    assert time.monotonic() - started < 240
    assert len(streams) == 150
    final = learner.lecture(lecture_id)
    assert final["status"] == "succeeded"
    for lectures in streams:
        assert lectures, "a stream sent nothing"
        assert lectures[-1] == final
    assert statuses, "no ordinary request ran"
    assert set(statuses) == {200}, sorted(set(statuses))
