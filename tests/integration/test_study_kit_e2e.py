"""Every preset end to end, on both columns: the kit has exactly the parts the preset
names, and every export the preset names opens with a real reader."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import srt
import webvtt
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from pypdf import PdfReader

from pegasus.presets import BUILTIN_PRESETS
from pegasus.studykit.schemas import StudyKit
from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings
from tests.readers import read_markdown, timestamps

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("kit@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def course(learner: Api) -> dict[str, Any]:
    return learner.create_course("Plant biology")


@pytest.fixture(scope="module")
def custom_preset(learner: Api, course: dict[str, Any]) -> dict[str, Any]:
    response = learner.client.post(
        f"/api/v1/courses/{course['id']}/presets",
        json={
            "name": "Cards only",
            "outputs": ["key_terms", "flashcards"],
            "exports": ["csv", "apkg"],
            "flashcard_count": 4,
            "glossary": ["chlorophyll", "thylakoid", "stroma"],
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _process(learner: Api, course: dict[str, Any], recordings: Recordings, preset: str) -> Any:
    response = learner.upload(
        course["id"],
        recordings.rich_m4a,
        content_type="audio/mp4",
        preset=preset,
        title="Photosynthesis",
    )
    assert response.status_code == 202, response.text
    lecture = learner.wait_for(response.json()["id"])
    assert lecture["status"] == "succeeded", lecture
    return lecture


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_markdown(body: bytes, kit: StudyKit) -> None:
    outline = read_markdown(body.decode("utf-8"))
    assert outline.headings[0] == (1, "Photosynthesis")
    titles = [title for level, title in outline.headings if level == 2]
    assert titles[-1] == "Transcript"
    parts: dict[str, list[Any]] = {
        "Summary": kit.summary,
        "Chapters": kit.chapters,
        "Key terms": kit.key_terms,
        "Flashcards": kit.flashcards,
        "Quiz": kit.quiz,
    }
    for title, items in parts.items():
        assert (title in titles) == bool(items), title
        if items:
            assert len(outline.section(title).items) == len(items), title
    if kit.flashcards:
        cards = outline.section("Flashcards").items
        assert [i.text for i in cards] == [f"Q: {_one_line(c.front)}" for c in kit.flashcards]
        for item, card in zip(cards, kit.flashcards, strict=True):
            (answer,) = item.children
            assert timestamps(answer.text) == [(int(card.source.start), int(card.source.end))]
    if kit.quiz:
        assert len(outline.section("Answer key").items) == len(kit.quiz)


def _check_anki(body: bytes, kit: StudyKit) -> None:
    """Anki's own importer on the pipeline's package: every card and question is a note in
    the course's deck."""
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "kit.apkg"
        package.write_bytes(body)
        collection = Collection(str(Path(tmp) / "collection.anki2"))
        try:
            response = collection.import_anki_package(
                ImportAnkiPackageRequest(
                    package_path=str(package),
                    options=ImportAnkiPackageOptions(merge_notetypes=True, with_scheduling=False),
                )
            )
            assert len(response.log.new) == len(kit.flashcards) + len(kit.quiz)
            assert collection.note_count() == len(kit.flashcards) + len(kit.quiz)
            assert "Plant biology" in [d.name for d in collection.decks.all_names_and_ids()]
            shown = " ".join(
                collection.get_card(card_id).question()
                for card_id in collection.find_cards("deck:*")
            )
        finally:
            collection.close()
    questions = _one_line(html.unescape(re.sub(r"<[^>]+>", " ", shown)))
    for card in kit.flashcards:
        if card.kind == "definition":
            assert _one_line(card.front) in questions, card.front
    for item in kit.quiz:
        assert _one_line(item.question) in questions, item.question


def _check_export(fmt: str, body: bytes, kit: StudyKit) -> None:
    """Open ``body`` with a real reader for ``fmt`` and check it holds the kit."""
    if fmt == "md":
        _check_markdown(body, kit)
    elif fmt == "json":
        assert StudyKit.model_validate(json.loads(body)["study_kit"]) == kit
    elif fmt == "srt":
        assert list(srt.parse(body.decode()))
    elif fmt == "vtt":
        assert webvtt.from_buffer(io.StringIO(body.decode())).captions
    elif fmt == "pdf":
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
        assert "Photosynthesis" in text
        for card in kit.flashcards[:2]:
            assert card.front.split()[0] in text
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
        assert len(rows) == len(kit.flashcards)
        assert all(len(row) == 2 for row in rows)
    elif fmt == "apkg":
        _check_anki(body, kit)
    elif fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as bundle:
            members = bundle.namelist()
            # A kit without flashcards has an empty (still valid) CSV; nothing else is empty.
            assert all(bundle.read(m) for m in members if not m.endswith(".csv"))
        assert {m.rsplit(".", 1)[1] for m in members} >= {"md", "json", "srt", "vtt"}
    else:
        raise AssertionError(f"no reader for {fmt}")


@pytest.mark.parametrize("preset_key", [*BUILTIN_PRESETS, "custom"])
def test_preset_makes_what_it_names(
    learner: Api,
    course: dict[str, Any],
    custom_preset: dict[str, Any],
    recordings: Recordings,
    preset_key: str,
) -> None:
    key = custom_preset["key"] if preset_key == "custom" else preset_key
    preset = next(
        p
        for p in learner.client.get(f"/api/v1/courses/{course['id']}/presets").json()
        if p["key"] == key
    )
    lecture = _process(learner, course, recordings, key)
    document = learner.client.get(f"/api/v1/lectures/{lecture['id']}/kit").json()
    kit = StudyKit.model_validate(document)
    transcript = learner.client.get(f"/api/v1/lectures/{lecture['id']}/transcript").json()
    spoken = " ".join(s["text"] for s in transcript["segments"])
    # The kit's parts as the API returns them (its list fields), against the preset as the
    # learner sees it: each named part is there and filled, each other part is empty.
    parts = {name for name, value in document.items() if isinstance(value, list)}
    parts.discard("deleted_ids")
    named = set(preset["outputs"]) - {"transcript"}
    assert named <= parts, f"{key} names outputs the kit does not have: {named - parts}"
    assert len(parts) >= 6
    for part in sorted(parts):
        if part in named:
            assert document[part], f"{key} asks for {part} but the kit has none"
        else:
            assert not document[part], f"{key} does not ask for {part} but the kit has some"
    if "flashcards" in preset["outputs"]:
        assert len(kit.flashcards) <= preset["flashcard_count"]
    sources = [c.source for c in kit.flashcards] + [q.source for q in kit.quiz]
    for source in sources:
        assert source.text in spoken, "every item must point at real transcript text"
    for item in kit.quiz:
        assert 0 <= item.answer_index < 4
    for fmt in ("md", "json", "srt", "vtt", "pdf", "apkg", "csv", "zip"):
        response = learner.client.get(f"/api/v1/lectures/{lecture['id']}/exports/{fmt}")
        if fmt in preset["exports"]:
            assert response.status_code == 200, (key, fmt, response.text)
            _check_export(fmt, response.content, kit)
        else:
            assert response.status_code == 404, (key, fmt)


def test_review_edits_survive_a_regenerate(
    learner: Api, course: dict[str, Any], recordings: Recordings
) -> None:
    lecture = _process(learner, course, recordings, "exam-prep")
    base = f"/api/v1/lectures/{lecture['id']}"
    kit = StudyKit.model_validate(learner.client.get(f"{base}/kit").json())
    assert len(kit.flashcards) >= 2
    assert kit.quiz

    # Correct the first transcript segment: times stay, search sees the new words.
    transcript = learner.client.get(f"{base}/transcript").json()
    first = transcript["segments"][0]
    edited = learner.client.patch(
        f"{base}/transcript/segments/0", json={"text": "Today we study xylophyte nutrition."}
    )
    assert edited.status_code == 200, edited.text
    segment = edited.json()["segments"][0]
    assert (segment["start"], segment["end"]) == (first["start"], first["end"])
    assert segment["edited"] is True
    hits = learner.client.get("/api/v1/search", params={"q": "xylophyte"}).json()["hits"]
    assert [h["lecture_id"] for h in hits] == [lecture["id"]]

    # Edit one flashcard, delete another and a quiz item.
    card, doomed = kit.flashcards[0], kit.flashcards[1]
    patched = learner.client.patch(
        f"{base}/flashcards/{card.id}", json={"back": "My own words for this card"}
    )
    assert patched.status_code == 200, patched.text
    assert learner.client.delete(f"{base}/flashcards/{doomed.id}").status_code == 204
    assert learner.client.delete(f"{base}/quiz/{kit.quiz[0].id}").status_code == 204
    bad = learner.client.patch(
        f"{base}/quiz/{kit.quiz[-1].id}", json={"options": ["a", "a", "b", "c"]}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "request.invalid"
    missing = learner.client.patch(f"{base}/flashcards/nope", json={"back": "x"})
    assert missing.status_code == 404

    regenerated = learner.client.post(f"{base}/regenerate")
    assert regenerated.status_code == 202, regenerated.text
    done = learner.wait_for(lecture["id"])
    assert done["status"] == "succeeded"
    generate = next(s for s in done["stages"] if s["stage"] == "generate")
    assert generate["attempt"] == 2

    after = StudyKit.model_validate(learner.client.get(f"{base}/kit").json())
    kept = {c.id: c for c in after.flashcards}
    assert kept[card.id].back == "My own words for this card"
    assert kept[card.id].edited
    assert doomed.id not in kept
    assert kit.quiz[0].id not in {q.id for q in after.quiz}
    assert after.deleted_ids == sorted({doomed.id, kit.quiz[0].id})
    rows = list(csv.reader(io.StringIO(learner.client.get(f"{base}/exports/csv").text)))
    assert ["".join(card.front.split()), "My own words for this card"] in [
        ["".join(r[0].split()), r[1]] for r in rows
    ]
