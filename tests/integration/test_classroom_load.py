"""A classroom at once, on both columns, while a lecture is being transcribed.

200 clients start together: status reads, course and lecture lists, transcript reads and
review edits. No answer may be a 5xx (nor a dropped connection), every accepted edit must be
in the stored transcript and in the search index, of two rival edits with the same If-Match
exactly one wins, and junk methods must not grow /metrics. Latencies are reported by
``make bench`` (bench/api_load.py), never asserted here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pegasus.loadgen import Classroom, LoadReport, burst, edit_word, run_classroom
from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings

pytestmark = pytest.mark.slow

CLIENTS = 200
CONTESTED = 2


@pytest.fixture(scope="module")
def classroom(deployment: Deployment, recordings: Recordings) -> Iterator[tuple[Api, Classroom]]:
    """A finished lecture to edit, and a long one uploaded to be transcribed meanwhile."""
    token = deployment.create_user("class@example.org")
    api = Api(deployment, token)
    course = api.create_course("Lecture hall")
    finished = api.upload(course["id"], recordings.rich_m4a, preset="full-notes").json()
    assert api.wait_for(finished["id"])["status"] == "succeeded", deployment.logs()
    segments = api.client.get(f"/api/v1/lectures/{finished['id']}/transcript").json()["segments"]
    assert len(segments) >= 4, "the rich lecture should have several segments"
    positions = tuple(range(len(segments)))
    room = Classroom(
        base_url=deployment.base_url,
        token=token,
        course_id=course["id"],
        processing_lecture_id=finished["id"],  # replaced by a lecture in processing
        finished_lecture_id=finished["id"],
        segments=positions[:-CONTESTED],
        contested=positions[-CONTESTED:],
    )
    yield api, room
    api.close()


def _http_series(metrics_text: str) -> int:
    return sum(1 for line in metrics_text.splitlines() if line.startswith("pegasus_http_"))


def _search(api: Api, word: str) -> list[dict[str, Any]]:
    response = api.client.get("/api/v1/search", params={"q": word})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def test_a_classroom_gets_no_5xx_and_loses_no_edit(
    classroom: tuple[Api, Classroom], recordings: Recordings
) -> None:
    api, room = classroom
    processing = api.upload(room.course_id, recordings.long_wav).json()
    room = dataclasses.replace(room, processing_lecture_id=processing["id"])
    # The class starts while the new lecture is being worked on.
    assert api.lecture(processing["id"])["status"] in ("queued", "processing")
    report: LoadReport = asyncio.run(run_classroom(room, clients=CLIENTS))

    assert report.count_5xx() == 0, "\n".join(report.server_errors[:10])
    assert report.requests >= CLIENTS

    # Of each pair of rival edits with the same If-Match, exactly one won.
    assert report.rivals == {p: [200, 412] for p in room.contested}

    transcript = api.client.get(f"/api/v1/lectures/{room.finished_lecture_id}/transcript")
    stored = dict(enumerate(transcript.json()["segments"]))
    assert set(report.accepted) == set(room.segments) | set(room.contested)
    for position, word in report.accepted.items():
        # The last accepted edit is what the stored transcript holds ...
        assert word in stored[position]["text"], (position, stored[position])
        # ... and what the search index finds, at that segment's time; earlier or refused
        # edits of the segment are nowhere in the index.
        hits = _search(api, word)
        assert [h["start"] for h in hits] == [stored[position]["start"]], (word, hits)
        for other in report.sent[position]:
            if other != word:
                assert _search(api, other) == [], (other, "is in the index but not stored")
    editors_seconds = {edit_word(p, "second") for p in room.segments}
    assert editors_seconds <= set(report.accepted.values()), "an If-Match chain was refused"


def test_two_hundred_identical_requests_at_once_all_succeed(
    classroom: tuple[Api, Classroom],
) -> None:
    _, room = classroom
    statuses = asyncio.run(burst(room.base_url, room.token, "/api/v1/courses", clients=CLIENTS))
    assert statuses == {200: CLIENTS}


def test_junk_methods_and_paths_do_not_grow_metrics(classroom: tuple[Api, Classroom]) -> None:
    _, room = classroom
    rng = random.Random(7)

    def junk(http: httpx.Client, count: int) -> None:
        for _ in range(count):
            method = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8))
            answer = http.request(method, f"/api/v1/junk-{rng.random()}")
            assert answer.status_code < 500

    with httpx.Client(base_url=room.base_url, timeout=30) as http:
        junk(http, 20)  # the first junk adds its fixed labels (method "other", no route) once
        http.get("/metrics")  # and so does the first scrape (GET /metrics, counted after it)
        before = _http_series(http.get("/metrics").text)
        junk(http, 300)
        after = _http_series(http.get("/metrics").text)
    assert after == before
