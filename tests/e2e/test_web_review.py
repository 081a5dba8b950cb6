"""Review, study, quiz, export and search pages in real Chromium, on two phone profiles.

One embedded deployment per module processes ``recordings.rich_m4a`` with the ``exam-prep``
preset (flashcards, a quiz and every export) through the public API; the pages are then
driven like a learner would, and what they did is checked through the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from playwright.sync_api import BrowserContext, Dialog, Page, ViewportSize, expect

from pegasus.web.messages import MESSAGES
from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.lectures import Recordings
from tests.support.browser import (
    NARROW_VIEWPORT,
    PASSWORD,
    PHONES,
    assert_accessible,
    assert_no_horizontal_scroll,
    sign_in,
)

pytestmark = pytest.mark.slow

EMAIL = "learner@example.org"
MALICIOUS = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Processed:
    """The deployment, a signed-in API client and the processed lecture."""

    deployment: Deployment
    api: Api
    lecture_id: str
    course_name: str

    def transcript(self) -> dict[str, Any]:
        response = self.api.client.get(f"/api/v1/lectures/{self.lecture_id}/transcript")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def kit(self) -> dict[str, Any]:
        response = self.api.client.get(f"/api/v1/lectures/{self.lecture_id}/kit")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def url(self, path: str) -> str:
        return self.deployment.base_url + path


@pytest.fixture(scope="module")
def processed(embedded: Deployment, recordings: Recordings) -> Iterator[Processed]:
    """``rich_m4a`` uploaded through the API with the exam-prep preset and processed."""
    token = embedded.create_user(EMAIL)
    api = Api(embedded, token)
    course = api.create_course("Plant biology")
    upload = api.upload(
        course["id"], recordings.rich_m4a, preset="exam-prep", content_type="audio/mp4"
    )
    assert upload.status_code == 202, upload.text
    lecture = api.wait_for(upload.json()["id"])
    assert lecture["status"] == "succeeded", lecture
    try:
        yield Processed(embedded, api, lecture["id"], course["name"])
    finally:
        api.close()


@pytest.fixture
def phone_name(request: pytest.FixtureRequest) -> str:
    """Which phone profile this test runs on (a key of ``PHONES``)."""
    name: str = request.node.callspec.params["phone"]
    return name


@pytest.fixture
def page(processed: Processed, phone: BrowserContext) -> Page:
    """A page of the phone's context, signed in as the learner through the log-in page."""
    signed_in = phone.new_page()
    sign_in(signed_in, processed.deployment.base_url, EMAIL)
    return signed_in


def segment_for(processed: Processed, phone_name: str, offset: int) -> int:
    """A segment position that this phone's test owns, so the profiles never share edits."""
    count = len(processed.transcript()["segments"])
    position = offset + 3 * sorted(PHONES).index(phone_name)
    assert position < count, f"the lecture has only {count} segments"
    return position


def audio_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('audio').currentTime"))


def open_review(page: Page, processed: Processed, fragment: str = "") -> None:
    page.goto(processed.url(f"/lectures/{processed.lecture_id}/review{fragment}"))
    expect(page.locator("html")).to_have_attribute("data-review-ready", "true")


# --- review: listen ---------------------------------------------------------------------


def test_tapping_a_segment_seeks_the_audio_and_highlights_it(
    page: Page, processed: Processed, phone_name: str
) -> None:
    segments = processed.transcript()["segments"]
    open_review(page, processed)
    audio = page.locator("audio#audio")
    assert audio.get_attribute("preload") == "metadata"
    assert audio.get_attribute("src") == f"/api/v1/lectures/{processed.lecture_id}/audio"
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1")

    target = len(segments) // 2
    start = float(segments[target]["start"])
    assert start > 2.0  # far enough from 0 that a seek that did not happen shows
    page.locator(f"#seg-{target} .segment__seek").tap()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('audio').currentTime - {start}) < 1.5"
    )
    assert start - 0.05 <= audio_time(page) < start + 1.5
    expect(page.locator(f"#seg-{target}")).to_have_attribute("aria-current", "true")
    assert page.locator(".segment[aria-current]").count() == 1


def test_a_time_in_the_address_seeks_on_load(page: Page, processed: Processed) -> None:
    segments = processed.transcript()["segments"]
    target = len(segments) - 2
    start = float(segments[target]["start"])
    open_review(page, processed, f"#t={start}")
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('audio').currentTime - {start}) < 0.5"
    )
    expect(page.locator(f"#seg-{target}")).to_have_attribute("aria-current", "true")


def test_the_kit_is_shown_and_its_times_seek(page: Page, processed: Processed) -> None:
    kit = processed.kit()
    open_review(page, processed)
    expect(page.locator("main")).to_contain_text(kit["summary"][0]["text"])
    chapters = page.locator(".chapters a")
    expect(chapters).to_have_count(len(kit["chapters"]))
    expect(chapters.first).to_contain_text(kit["chapters"][0]["title"])
    page.get_by_text(re.compile(r"^Key terms")).tap()  # folded away until asked for
    term = max(
        (t for t in kit["key_terms"] if t["definition"] and t["source"]),
        key=lambda t: t["source"]["start"],
    )
    start = float(term["source"]["start"])
    assert start > 2.0  # far enough from 0 that a seek that did not happen shows
    entry = page.locator(".term", has=page.locator("dt", has_text=term["term"])).first
    expect(entry).to_contain_text(term["definition"])
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1")
    entry.locator("a[data-seek]").tap()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('audio').currentTime - {start}) < 1.5"
    )


# --- review: correct --------------------------------------------------------------------


def test_editing_a_segment_saves_it_through_the_api(
    page: Page, processed: Processed, phone_name: str
) -> None:
    position = segment_for(processed, phone_name, 0)
    corrected = f"Corrected on {phone_name}: photosynthesis happens in chloroplasts."
    open_review(page, processed)
    row = page.locator(f"#seg-{position}")
    row.get_by_role("button", name=re.compile(r"^Edit")).tap()
    box = row.locator("textarea")
    expect(box).to_be_focused()
    box.fill(corrected)
    row.get_by_role("button", name="Save").tap()
    expect(page.locator("#review-status")).to_contain_text("Saved your correction")
    expect(row.locator(".segment__text")).to_have_text(corrected)
    stored = processed.transcript()["segments"][position]
    assert stored["text"] == corrected
    assert stored["edited"] is True


def test_two_pages_editing_one_segment_lose_neither_edit(
    page: Page, processed: Processed, phone: BrowserContext, phone_name: str
) -> None:
    first, second = page, phone.new_page()  # two tabs of the signed-in learner
    position = segment_for(processed, phone_name, 1)
    original = processed.transcript()["segments"][position]["text"]
    for each in (first, second):
        open_review(each, processed)
        each.locator(f"#seg-{position}").get_by_role("button", name=re.compile("^Edit")).tap()

    first_text = f"First page's fix ({phone_name})."
    second_text = f"Second page's fix ({phone_name})."
    first.locator(f"#seg-{position} textarea").fill(first_text)
    first.locator(f"#seg-{position}").get_by_role("button", name="Save").tap()
    expect(first.locator("#review-status")).to_contain_text("Saved your correction")
    assert processed.transcript()["segments"][position]["text"] == first_text

    row = second.locator(f"#seg-{position}")
    row.locator("textarea").fill(second_text)
    row.get_by_role("button", name="Save").tap()
    conflict = row.get_by_role("alert")
    expect(conflict).to_contain_text(MESSAGES["edit.conflict"].happened)
    expect(conflict.locator(".conflict__theirs")).to_have_text(first_text)
    # The second learner's words are still in the box, and the first edit is stored.
    expect(row.locator("textarea")).to_have_value(second_text)
    assert processed.transcript()["segments"][position]["text"] == first_text
    assert first_text != original

    row.get_by_role("button", name="Save my version").tap()
    expect(second.locator("#review-status")).to_contain_text("Saved your correction")
    expect(row.locator(".segment__text")).to_have_text(second_text)
    assert processed.transcript()["segments"][position]["text"] == second_text


# --- study and quiz ---------------------------------------------------------------------


def test_flashcard_study_mode_flips_counts_and_repeats_again_cards(
    page: Page, processed: Processed
) -> None:
    cards = processed.kit()["flashcards"]
    total = len(cards)
    assert total >= 3
    page.goto(processed.url(f"/lectures/{processed.lecture_id}/study"))
    progress = page.locator("#study-progress")
    face = page.locator("#flashcard-face")
    expect(progress).to_have_text(f"Card 1 of {total}")
    expect(face).to_have_text(cards[0]["front"])
    page.get_by_role("button", name="Show answer").tap()
    expect(face).to_have_text(cards[0]["back"])
    page.get_by_role("button", name="Again").tap()
    # The card goes to the end: one more card to go through.
    expect(progress).to_have_text(f"Card 2 of {total + 1}")
    expect(face).to_have_text(cards[1]["front"])
    page.locator("#flashcard").tap()  # a tap on the card flips it too
    expect(face).to_have_text(cards[1]["back"])
    page.get_by_role("button", name="Got it").tap()
    # Cards 3..total, then the first card again (it went to the end).
    for step, card in zip(range(3, total + 2), [*cards[2:], cards[0]], strict=True):
        expect(progress).to_have_text(f"Card {step} of {total + 1}")
        page.keyboard.press("Space")  # the keyboard works as well as taps
        # A learner grades what they have seen: wait for the answer before pressing 2.
        expect(face).to_have_text(card["back"])
        page.keyboard.press("2")
    expect(page.locator("#study-done")).to_contain_text(
        f"You learned all {total} cards; 1 needed another go."
    )


def test_quiz_practice_shows_right_and_wrong_and_a_score(page: Page, processed: Processed) -> None:
    quiz = processed.kit()["quiz"]
    assert len(quiz) >= 2
    page.goto(processed.url(f"/lectures/{processed.lecture_id}/quiz"))
    expect(page.locator("#quiz")).to_have_attribute("data-ready", "true")
    for number, item in enumerate(quiz, start=1):
        question = page.locator(f"#q{number}")
        answer = item["answer_index"]
        choice = (answer + 1) % 4 if number == 1 else answer  # the first one wrong
        question.locator(f'.quiz__option[data-index="{choice}"]').tap()
        feedback = question.locator(".quiz__feedback")
        if number == 1:
            expect(feedback).to_contain_text(f"Not quite. The answer is {'ABCD'[answer]}")
        else:
            expect(feedback).to_contain_text("Right.")
        expect(feedback).to_contain_text(item["explanation"])
    expect(page.locator("#quiz-score")).to_contain_text(
        f"You got {len(quiz) - 1} of {len(quiz)} right"
    )
    # The explanation's link opens the review page where the answer was said.
    start = float(quiz[0]["source"]["start"])
    page.locator("#q1 .quiz__feedback a").tap()
    page.wait_for_url(re.compile(r"/review#t="))
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('audio').currentTime - {start}) < 0.5"
    )


# --- export -----------------------------------------------------------------------------


def test_export_buttons_download_an_apkg_that_anki_imports(
    page: Page, processed: Processed, tmp_path: Path
) -> None:
    kit = processed.kit()
    open_review(page, processed)
    buttons = page.locator("#exports a[data-format]")
    formats = [buttons.nth(i).get_attribute("data-format") for i in range(buttons.count())]
    assert sorted(f or "" for f in formats) == sorted(
        ["md", "json", "srt", "vtt", "pdf", "apkg", "csv", "zip"]
    )
    with page.expect_download() as info:
        page.locator('#exports a[data-format="apkg"]').tap()
    download = info.value
    assert download.suggested_filename.endswith(".apkg")
    path = tmp_path / "deck.apkg"
    download.save_as(path)

    collection = Collection(str(tmp_path / "collection.anki2"))
    try:
        response = collection.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=str(path),
                options=ImportAnkiPackageOptions(merge_notetypes=True, with_scheduling=False),
            )
        )
        assert len(response.log.new) == len(kit["flashcards"]) + len(kit["quiz"])
        assert processed.course_name in [d.name for d in collection.decks.all_names_and_ids()]
        fronts = {collection.get_note(note_id).fields[0] for note_id in collection.find_notes("")}
        definition = next(c for c in kit["flashcards"] if c["kind"] == "definition")
        assert definition["front"] in fronts
    finally:
        collection.close()


# --- search -----------------------------------------------------------------------------


def test_search_highlights_matches_and_shows_markup_as_text(
    page: Page, processed: Processed, phone_name: str
) -> None:
    position = segment_for(processed, phone_name, 2)
    segment = processed.transcript()["segments"][position]
    evil = f"Stomata {MALICIOUS} let carbon dioxide in ({phone_name})"
    edited = processed.api.client.patch(
        f"/api/v1/lectures/{processed.lecture_id}/transcript/segments/{position}",
        json={"text": evil},
    )
    assert edited.status_code == 200, edited.text
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)

    page.goto(processed.url("/search"))
    page.get_by_label("Words said in a lecture").fill(f"stomata onerror {phone_name}")
    page.get_by_role("button", name="Search").tap()
    page.wait_for_url(re.compile(r"/search\?q=stomata"))
    result = page.locator(".result", has_text="onerror")
    expect(result).to_have_count(1)
    snippet = result.locator(".result__snippet")
    # The markup arrives as text: no element was injected, and the matches are marked.
    expect(snippet).to_contain_text(MALICIOUS)
    assert page.locator(".results img").count() == 0
    marks = snippet.locator("mark")
    assert [m.lower() for m in marks.all_inner_texts()][:1] == ["stomata"]
    assert "onerror" in [m.lower() for m in marks.all_inner_texts()]
    assert snippet.locator("*").count() == marks.count()  # nothing but <mark>
    assert dialogs == []

    href = result.locator("a").get_attribute("href") or ""
    assert href.startswith(f"/lectures/{processed.lecture_id}/review#t=")
    result.locator("a").tap()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('audio').currentTime - {segment['start']}) < 0.5"
    )
    expect(page.locator(f"#seg-{position}")).to_have_attribute("aria-current", "true")
    assert dialogs == []


def test_search_without_matches_and_with_a_too_long_query(page: Page, processed: Processed) -> None:
    page.goto(processed.url("/search?q=xylophone"))
    expect(page.get_by_role("heading", name="No results")).to_be_visible()
    response = page.goto(processed.url("/search?q=" + "a" * 201))
    assert response is not None
    assert response.status == 422
    expect(page.locator(".error-summary")).to_contain_text("at most 200 characters")


# --- every page: accessible, fits the phone ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/lectures/{id}/review", "/lectures/{id}/study", "/lectures/{id}/quiz", "/search?q=light"],
)
def test_pages_are_accessible_and_fit_the_phone(
    page: Page, processed: Processed, path: str
) -> None:
    response = page.goto(processed.url(path.format(id=processed.lecture_id)))
    assert response is not None
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    narrow: ViewportSize = {"width": NARROW_VIEWPORT["width"], "height": NARROW_VIEWPORT["height"]}
    page.set_viewport_size(narrow)  # the narrowest phone the app supports
    assert_no_horizontal_scroll(page)


def test_another_learners_lecture_is_not_found(
    processed: Processed, phone: BrowserContext, phone_name: str
) -> None:
    other = f"other-{phone_name}@example.org"
    processed.deployment.create_user(other)
    page = phone.new_page()
    sign_in(page, processed.deployment.base_url, other, PASSWORD)
    for path in ("review", "study", "quiz"):
        response = page.goto(processed.url(f"/lectures/{processed.lecture_id}/{path}"))
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Lecture not found")
    page.goto(processed.url("/search?q=photosynthesis"))
    expect(page.get_by_role("heading", name="No results")).to_be_visible()


# --- regenerate (last: it sends the lecture through the pipeline again) -------------------


def test_regenerate_goes_to_the_status_page_and_keeps_the_corrections(
    page: Page, processed: Processed, phone_name: str
) -> None:
    position = segment_for(processed, phone_name, 0)
    corrected = processed.transcript()["segments"][position]["text"]
    assert corrected.startswith("Corrected on")  # by the editing test above
    open_review(page, processed)
    page.get_by_role("button", name="Regenerate the study kit").tap()
    page.wait_for_url(processed.url(f"/lectures/{processed.lecture_id}"))
    lecture = processed.api.wait_for(processed.lecture_id)
    assert lecture["status"] == "succeeded"
    generate = [s for s in lecture["stages"] if s["stage"] == "generate"]
    assert generate[0]["attempt"] >= 2
    assert processed.transcript()["segments"][position]["text"] == corrected
