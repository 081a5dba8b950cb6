"""No lost update, on both columns: concurrent review edits are serialized, and a stale
``If-Match`` is refused with 412 ``edit.conflict`` while the stored transcript/kit, the
database and the search index keep agreeing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
]


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("versions@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def lecture(learner: Api, recordings: Recordings) -> dict[str, Any]:
    course = learner.create_course("Plant biology, reviewed together")
    response = learner.upload(
        course["id"],
        recordings.rich_m4a,
        content_type="audio/mp4",
        preset="exam-prep",
        title="Photosynthesis",
    )
    assert response.status_code == 202, response.text
    done = learner.wait_for(response.json()["id"])
    assert done["status"] == "succeeded", done
    return done


def _base(lecture: dict[str, Any]) -> str:
    return f"/api/v1/lectures/{lecture['id']}"


def _transcript(learner: Api, lecture: dict[str, Any]) -> httpx.Response:
    response = learner.client.get(f"{_base(lecture)}/transcript")
    assert response.status_code == 200, response.text
    return response


def _kit(learner: Api, lecture: dict[str, Any]) -> httpx.Response:
    response = learner.client.get(f"{_base(lecture)}/kit")
    assert response.status_code == 200, response.text
    return response


def _search(learner: Api, word: str) -> list[dict[str, Any]]:
    response = learner.client.get("/api/v1/search", params={"q": word})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def _together(calls: list[Callable[[httpx.Client], httpx.Response]], learner: Api) -> list[Any]:
    """Run ``calls`` at the same moment, each on its own connection."""
    barrier = threading.Barrier(len(calls))
    headers = {"Authorization": learner.client.headers["Authorization"]}

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with httpx.Client(
            base_url=learner.deployment.base_url, headers=headers, timeout=120
        ) as client:
            barrier.wait()
            return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _segment_etag(lecture: dict[str, Any], position: int, version: int) -> str:
    return f'"segment.{lecture["id"]}.{position}.{version}"'


def _conflict(response: httpx.Response) -> None:
    assert response.status_code == 412, response.text
    error = response.json()["error"]
    assert error["code"] == "edit.conflict"
    assert "reload" in error["message"]


def test_parallel_edits_of_different_segments_all_survive(
    learner: Api, lecture: dict[str, Any]
) -> None:
    segments = _transcript(learner, lecture).json()["segments"]
    assert len(segments) >= 13, [s["text"] for s in segments]
    texts = {i: f"Segment {i} is now about xylo{WORDS[i]} plants." for i in range(12)}

    def patch(position: int) -> Callable[[httpx.Client], httpx.Response]:
        return lambda client: client.patch(
            f"{_base(lecture)}/transcript/segments/{position}", json={"text": texts[position]}
        )

    responses = _together([patch(i) for i in texts], learner)

    assert [r.status_code for r in responses] == [200] * 12, [r.text for r in responses]
    for position, response in zip(texts, responses, strict=True):
        assert response.headers["etag"] == _segment_etag(lecture, position, 2)
    stored = _transcript(learner, lecture).json()["segments"]
    assert [s["text"] for s in stored[:12]] == list(texts.values())
    assert all(s["version"] == 2 and s["edited"] for s in stored[:12])
    assert stored[12]["text"] == segments[12]["text"]
    for position, text in texts.items():
        hits = _search(learner, f"xylo{WORDS[position]}")
        assert [h["lecture_id"] for h in hits] == [lecture["id"]], (position, hits)
        assert hits[0]["start"] == pytest.approx(segments[position]["start"])
        assert f"xylo{WORDS[position]}" in hits[0]["snippet"].replace("<mark>", "").replace(
            "</mark>", ""
        ), text


def test_two_edits_from_one_version_one_wins(learner: Api, lecture: dict[str, Any]) -> None:
    before = _transcript(learner, lecture)
    position = len(before.json()["segments"]) - 1
    version = before.json()["segments"][position]["version"]
    opened = _segment_etag(lecture, position, version)
    url = f"{_base(lecture)}/transcript/segments/{position}"
    texts = ["The stroma holds quasarwin enzymes.", "The stroma holds quasarlose enzymes."]

    def patch(text: str) -> Callable[[httpx.Client], httpx.Response]:
        return lambda client: client.patch(url, json={"text": text}, headers={"If-Match": opened})

    responses = _together([patch(text) for text in texts], learner)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 412], [r.text for r in responses]
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    _conflict(responses[1 - winner])
    assert "segment" in responses[1 - winner].json()["error"]["message"]
    won, lost = texts[winner], texts[1 - winner]

    after = _transcript(learner, lecture)
    segment = after.json()["segments"][position]
    assert segment["text"] == won
    assert segment["version"] == version + 1
    assert responses[winner].headers["etag"] == _segment_etag(lecture, position, version + 1)
    assert after.headers["etag"] != before.headers["etag"]
    winning_word, losing_word = won.split()[3], lost.split()[3]
    assert [h["lecture_id"] for h in _search(learner, winning_word)] == [lecture["id"]]
    assert _search(learner, losing_word) == []

    # The loser reloads: the whole-transcript ETag from GET is accepted, the old one is not.
    _conflict(learner.client.patch(url, json={"text": lost}, headers={"If-Match": opened}))
    _conflict(
        learner.client.patch(url, json={"text": lost}, headers={"If-Match": before.headers["etag"]})
    )
    retried = learner.client.patch(
        url, json={"text": lost}, headers={"If-Match": after.headers["etag"]}
    )
    assert retried.status_code == 200, retried.text
    assert retried.headers["etag"] == _segment_etag(lecture, position, version + 2)
    assert _transcript(learner, lecture).json()["segments"][position]["text"] == lost
    assert [h["lecture_id"] for h in _search(learner, losing_word)] == [lecture["id"]]
    assert _search(learner, winning_word) == []


@pytest.mark.parametrize(
    ("collection", "kind", "change"),
    [
        ("flashcards", "flashcard", {"back": "Said in my own words"}),
        ("quiz", "quiz", {"explanation": "Because the lecture says so"}),
    ],
)
def test_stale_item_edit_is_refused(
    learner: Api, lecture: dict[str, Any], collection: str, kind: str, change: dict[str, str]
) -> None:
    opened = _kit(learner, lecture)
    item = opened.json()[collection][0]
    url = f"{_base(lecture)}/{collection}/{item['id']}"
    stale = f'"{kind}.{lecture["id"]}.{item["id"]}.{item["version"]}"'

    first = learner.client.patch(url, json=change, headers={"If-Match": stale})
    assert first.status_code == 200, first.text
    fresh = first.headers["etag"]
    assert fresh == f'"{kind}.{lecture["id"]}.{item["id"]}.{item["version"] + 1}"'

    for old in (stale, opened.headers["etag"], f"W/{fresh}"):
        refused = learner.client.patch(url, json=_other(change), headers={"If-Match": old})
        _conflict(refused)
    kept = next(i for i in _kit(learner, lecture).json()[collection] if i["id"] == item["id"])
    assert kept[next(iter(change))] == change[next(iter(change))]
    assert kept["version"] == item["version"] + 1

    second = learner.client.patch(url, json=_other(change), headers={"If-Match": fresh})
    assert second.status_code == 200, second.text
    assert second.headers["etag"] not in (fresh, stale)
    now = _kit(learner, lecture)
    kept = next(i for i in now.json()[collection] if i["id"] == item["id"])
    assert kept[next(iter(change))] == _other(change)[next(iter(change))]
    assert kept["edited"] is True
    assert now.headers["etag"] != opened.headers["etag"]


def _other(change: dict[str, str]) -> dict[str, str]:
    return {key: f"{value}, corrected again" for key, value in change.items()}


def test_stale_delete_is_refused(learner: Api, lecture: dict[str, Any]) -> None:
    opened = _kit(learner, lecture)
    card = opened.json()["flashcards"][-1]
    url = f"{_base(lecture)}/flashcards/{card['id']}"
    stale = f'"flashcard.{lecture["id"]}.{card["id"]}.{card["version"]}"'
    edited = learner.client.patch(url, json={"front": "Changed on another phone"})
    assert edited.status_code == 200, edited.text

    _conflict(learner.client.delete(url, headers={"If-Match": stale}))
    assert card["id"] in {c["id"] for c in _kit(learner, lecture).json()["flashcards"]}

    deleted = learner.client.delete(url, headers={"If-Match": edited.headers["etag"]})
    assert deleted.status_code == 204, deleted.text
    after = _kit(learner, lecture).json()
    assert card["id"] not in {c["id"] for c in after["flashcards"]}
    assert card["id"] in after["deleted_ids"]


def test_if_match_is_in_the_api_description(learner: Api) -> None:
    spec = learner.client.get("/openapi.json").json()
    for path, method in [
        ("/api/v1/lectures/{lecture_id}/transcript/segments/{position}", "patch"),
        ("/api/v1/lectures/{lecture_id}/flashcards/{item_id}", "patch"),
        ("/api/v1/lectures/{lecture_id}/flashcards/{item_id}", "delete"),
        ("/api/v1/lectures/{lecture_id}/quiz/{item_id}", "patch"),
        ("/api/v1/lectures/{lecture_id}/quiz/{item_id}", "delete"),
    ]:
        parameters = spec["paths"][path][method]["parameters"]
        assert {"name": "if-match", "in": "header"}.items() <= next(
            p for p in parameters if p["name"] == "if-match"
        ).items(), (path, method)
