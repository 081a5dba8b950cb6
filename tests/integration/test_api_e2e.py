"""The HTTP flow end to end, on both columns, with real servers and workers.

Embedded: SQLite + local files + Huey on SQLite with workers inside `pegasus serve`.
Scaled: PostgreSQL + S3 (moto server) + Huey on Redis with a separate `pegasus worker`.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import srt
import webvtt
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, delete
from sqlalchemy.orm import Session

from pegasus.db.base import utcnow
from pegasus.db.models import Lecture, StageRun
from pegasus.observability.metrics import EXPORTED_METRICS
from pegasus.transcription.schemas import Transcript
from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import SPOKEN_WORDS, Recordings
from tests.factories import make_lecture, make_stage_run
from tests.readers import read_markdown, timestamps

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z ]+", " ", text.lower())


def _assert_spoken(text: str) -> None:
    found = _normalise(text)
    missing = [word for word in SPOKEN_WORDS if word not in found]
    # tiny.en may mishear a word of espeak's robotic voice; most must be there.
    assert len(missing) <= 1, f"missing {missing} in {text[:500]!r}"


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("learner@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def course(learner: Api) -> dict[str, Any]:
    return learner.create_course("Biology 101")


@pytest.fixture(scope="module")
def finished_lecture(
    learner: Api, course: dict[str, Any], recordings: Recordings
) -> dict[str, Any]:
    response = learner.upload(
        course["id"], recordings.lecture_m4a, content_type="audio/mp4", title="Photosynthesis"
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] in ("queued", "processing")
    assert accepted["stages"][0]["stage"] == "ingest"
    return learner.wait_for(accepted["id"])


def test_health_and_readiness(deployment: Deployment, learner: Api) -> None:
    assert learner.client.get("/healthz").json() == {"status": "ok"}
    ready = learner.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok", "queue": "ok"}
    assert "pegasus_queue_depth" in learner.client.get("/metrics").text
    assert learner.client.get("/openapi.json").json()["info"]["title"] == "Pegasus"


def test_courses_and_presets(learner: Api, course: dict[str, Any]) -> None:
    listed = learner.client.get("/api/v1/courses").json()
    assert [c["id"] for c in listed] == [course["id"]]
    assert learner.client.get(f"/api/v1/courses/{course['id']}").json()["name"] == "Biology 101"
    presets = {p["key"]: p for p in learner.client.get("/api/v1/presets").json()}
    assert {"quick-review", "exam-prep", "full-notes", "captions-only"} <= set(presets)
    assert "summary" in presets["quick-review"]["outputs"]
    assert set(presets["captions-only"]["exports"]) >= {"srt", "vtt"}


def test_lecture_goes_through_every_stage(finished_lecture: dict[str, Any]) -> None:
    assert finished_lecture["status"] == "succeeded", finished_lecture
    assert [s["stage"] for s in finished_lecture["stages"]] == [
        "ingest",
        "transcribe",
        "generate",
        "export",
    ]
    for stage in finished_lecture["stages"]:
        assert stage["status"] == "succeeded"
        assert stage["progress"] == 1.0
        assert stage["error"] is None
        assert stage["started_at"] <= stage["finished_at"]
    assert 7.0 < finished_lecture["duration_seconds"] < 20.0


def test_transcript_has_the_spoken_words(learner: Api, finished_lecture: dict[str, Any]) -> None:
    response = learner.client.get(f"/api/v1/lectures/{finished_lecture['id']}/transcript")
    assert response.status_code == 200
    transcript = Transcript.model_validate(response.json())
    assert transcript.language == "en"
    _assert_spoken(transcript.text)
    words = [w for s in transcript.segments for w in s.words]
    assert words, "word timestamps are missing"
    assert all(0 <= w.start <= w.end <= transcript.duration_seconds + 0.5 for w in words)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("md", "text/markdown"),
        ("json", "application/json"),
        ("srt", "application/x-subrip"),
        ("vtt", "text/vtt"),
    ],
)
def test_exports_parse_and_contain_the_words(
    learner: Api, finished_lecture: dict[str, Any], fmt: str, content_type: str
) -> None:
    response = learner.client.get(f"/api/v1/lectures/{finished_lecture['id']}/exports/{fmt}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"Photosynthesis.{fmt}\"; filename*=UTF-8''Photosynthesis.{fmt}"
    )
    body = response.text
    if fmt == "md":
        outline = read_markdown(body)
        assert outline.headings[0] == (1, "Photosynthesis")
        assert outline.headings[-1] == (2, "Transcript")
        paragraphs = outline.section("Transcript").paragraphs
        starts = [timestamps(p)[0][0] for p in paragraphs]
        assert starts == sorted(starts), "transcript paragraphs in time order"
        assert starts[-1] <= finished_lecture["duration_seconds"]
        text = " ".join(p.split("] ", 1)[1] for p in paragraphs)
    elif fmt == "json":
        document = json.loads(body)
        text = Transcript.model_validate(document["transcript"]).text
        assert document["title"] == "Photosynthesis"
    elif fmt == "srt":
        cues = list(srt.parse(body))
        assert cues
        assert cues[0].index == 1
        assert all(c.start < c.end for c in cues)
        text = " ".join(c.content for c in cues)
    else:
        cues = webvtt.from_buffer(io.StringIO(body)).captions
        assert cues
        text = " ".join(c.text for c in cues)
    _assert_spoken(text)


def test_unknown_export_format_is_a_clear_404(
    learner: Api, finished_lecture: dict[str, Any]
) -> None:
    response = learner.client.get(f"/api/v1/lectures/{finished_lecture['id']}/exports/docx")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "md" in response.json()["error"]["message"]


def test_retry_of_a_succeeded_lecture_is_refused(
    learner: Api, finished_lecture: dict[str, Any]
) -> None:
    response = learner.client.post(f"/api/v1/lectures/{finished_lecture['id']}/retry")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "lecture.nothing_to_retry"


def test_lecture_list_shows_status(
    learner: Api, course: dict[str, Any], finished_lecture: dict[str, Any]
) -> None:
    listed = learner.client.get(f"/api/v1/courses/{course['id']}/lectures").json()
    mine = [lec for lec in listed if lec["id"] == finished_lecture["id"]]
    assert mine
    assert mine[0]["status"] == "succeeded"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@contextlib.contextmanager
def _waiting_run(deployment: Deployment, stage: str) -> Iterator[None]:
    """A lecture (another user's) whose ``stage`` run is queued but due only in an hour,
    written straight into the deployment's database, and removed afterwards."""
    engine = create_engine(deployment.env["PEGASUS_DATABASE_URL"])
    try:
        with Session(engine) as session, session.begin():
            lecture = make_lecture(session, title="Waiting", status="queued")
            make_stage_run(
                session,
                lecture,
                stage,
                status="queued",
                available_at=utcnow() + timedelta(hours=1),
            )
            lecture_id = lecture.id
        yield
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(StageRun).where(StageRun.lecture_id == lecture_id))
            session.execute(delete(Lecture).where(Lecture.id == lecture_id))
        engine.dispose()


def test_metrics_after_an_end_to_end_run(
    learner: Api, course: dict[str, Any], finished_lecture: dict[str, Any], deployment: Deployment
) -> None:
    assert finished_lecture["status"] == "succeeded"
    lectures = learner.client.get(f"/api/v1/courses/{course['id']}/lectures").json()
    succeeded = sum(1 for lecture in lectures if lecture["status"] == "succeeded")
    assert succeeded == len(lectures) >= 1, "every lecture so far finished, none is running"
    with _waiting_run(deployment, "transcribe"):
        text = learner.client.get("/metrics").text
    names = {family.name for family in text_string_to_metric_families(text)}
    # prometheus-client strips _total from counter family names
    exported = {n.removesuffix("_total") for n in EXPORTED_METRICS}
    assert exported <= names, exported - names
    samples = _samples(text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    # Each succeeded lecture ran each stage once, first time.
    for stage in ("ingest", "transcribe", "generate", "export"):
        assert value("pegasus_stage_runs_total", stage=stage, outcome="succeeded") == succeeded
        assert value("pegasus_stage_runs_total", stage=stage, outcome="failed") == 0
        assert value("pegasus_stage_duration_seconds_count", stage=stage) == succeeded
    # Read from the database at scrape time: only the waiting run is queued.
    assert {s: value("pegasus_queue_depth", stage=s) for s in ("ingest", "transcribe")} == {
        "ingest": 0,
        "transcribe": 1,
    }
    assert value("pegasus_queue_depth", stage="generate") == 0
    assert value("pegasus_queue_depth", stage="export") == 0
    assert value("pegasus_lectures_total", outcome="succeeded") == succeeded
    assert value("pegasus_lecture_processing_seconds_count") == succeeded
    assert 0 < value("pegasus_lecture_processing_seconds_sum") < 600
    assert value("pegasus_lecture_processing_ratio_count") == succeeded
    assert value("pegasus_ingest_requests_total", outcome="accepted") == len(lectures)
    # Embedded: the consumer inside the server; scaled: the one worker process.
    assert value("pegasus_workers_alive") == 1
    assert value("pegasus_ready") == 1
    assert (
        value(
            "pegasus_http_requests_total",
            method="GET",
            route="/api/v1/lectures/{lecture_id}",
            status="200",
        )
        >= 1
    )


def test_search_finds_spoken_words_with_highlight(
    learner: Api, finished_lecture: dict[str, Any], deployment: Deployment
) -> None:
    response = learner.client.get("/api/v1/search", params={"q": "photosynthesis energy"})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits, response.text
    hit = hits[0]
    assert hit["lecture_id"] == finished_lecture["id"]
    assert hit["lecture_title"] == "Photosynthesis"
    assert 0 <= hit["start"] < hit["end"] <= finished_lecture["duration_seconds"] + 0.5
    assert "<mark>" in hit["snippet"]
    assert "</mark>" in hit["snippet"]
    marked = hit["snippet"].lower().split("<mark>")[1].split("</mark>")[0]
    assert marked.startswith(("photosynth", "energ"))


def test_search_is_private_and_safe_with_odd_input(
    learner: Api, finished_lecture: dict[str, Any], deployment: Deployment
) -> None:
    stranger = Api(deployment, deployment.create_user("searcher@example.org"))
    assert (
        stranger.client.get("/api/v1/search", params={"q": "photosynthesis"}).json()["hits"] == []
    )
    stranger.close()
    # Query syntax is never passed through: odd input finds what its words find, or nothing.
    mine = [finished_lecture["id"]]
    for query, expected in (
        ('"unbalanced', []),
        ("NEAR(a b)", []),
        ("---", []),
        ("日本語", []),
        ('"photosynthesis', mine),
        ("energy*", mine),
        ("(photosynthesis) AND", None),  # "and" may be a stop word (PostgreSQL) or not
    ):
        response = learner.client.get("/api/v1/search", params={"q": query})
        assert response.status_code == 200, (query, response.text)
        hits = response.json()["hits"]
        found = sorted({h["lecture_id"] for h in hits})
        if expected is None:
            assert found in ([], mine), (query, hits)
        else:
            assert found == expected, (query, hits)
        for hit in hits:
            assert "<mark>" in hit["snippet"], (query, hit)
    empty = learner.client.get("/api/v1/search", params={"q": ""})
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "request.invalid"


def test_non_ascii_title_downloads_with_both_filenames(
    learner: Api, course: dict[str, Any], recordings: Recordings
) -> None:
    response = learner.upload(
        course["id"], recordings.lecture_wav, content_type="audio/wav", title="講義 Über Zellen"
    )
    assert response.status_code == 202, response.text
    lecture = learner.wait_for(response.json()["id"])
    assert lecture["status"] == "succeeded"
    download = learner.client.get(f"/api/v1/lectures/{lecture['id']}/exports/md")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        'attachment; filename="Uber_Zellen.md"; '
        "filename*=UTF-8''%E8%AC%9B%E7%BE%A9%20%C3%9Cber%20Zellen.md"
    )
    assert read_markdown(download.text).headings[0] == (1, "講義 Über Zellen")
