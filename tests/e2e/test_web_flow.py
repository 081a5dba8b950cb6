"""The learner's first-time flow in real Chromium, on both phone profiles.

Invitation link -> sign up -> course -> preset -> Upload (tus) or Record (MediaRecorder with
Chromium's fake microphone fed from an espeak-ng file) -> live status -> review -> Anki deck.
Also: a stage failure with its message and Retry, an upload cut off and resumed from the
server's offset, reloads during processing and during recording. Every screen is checked with
axe-core and for sideways scrolling.

``PEGASUS_WRITE_EVIDENCE=1`` (``make mobile-evidence``) saves a screenshot of every step under
``docs/evidence/mobile/<phone>/`` and writes ``docs/evidence/mobile/index.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Request, Route, expect

from pegasus.pipeline.ingest import SOURCE
from pegasus.storage.keys import lecture_key
from pegasus.web.messages import MESSAGES
from pegasus_testkit.audio import make_long_recording, synthesize_speech
from pegasus_testkit.deployment import Deployment
from pegasus_testkit.lectures import SPOKEN_TEXT, SPOKEN_WORDS, Recordings
from tests.support.browser import (
    NARROW_VIEWPORT,
    PASSWORD,
    PHONES,
    assert_accessible,
    assert_no_horizontal_scroll,
    launch_chromium,
    phone_profile,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE_DIR = ROOT / "docs" / "evidence" / "mobile"
WRITE_EVIDENCE = os.environ.get("PEGASUS_WRITE_EVIDENCE") == "1"
#: Processing a short clip takes seconds; a busy 2-core machine needs more.
DONE_TIMEOUT_MS = 240_000
CHUNK = 5 * 1024 * 1024  # flow_routes.UPLOAD_CHUNK_BYTES


# --- helpers -------------------------------------------------------------------------------


class Evidence:
    """Screenshots of one phone's steps (only with PEGASUS_WRITE_EVIDENCE=1)."""

    def __init__(self, phone: str) -> None:
        self.phone = phone

    def shot(self, page: Page, name: str) -> None:
        if not WRITE_EVIDENCE:
            return
        folder = EVIDENCE_DIR / self.phone
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True, scale="css")
        write_index()


def write_index() -> None:
    """docs/evidence/mobile/index.md: every screenshot, per phone, in step order."""
    lines = [
        "# Mobile evidence: the learner's first-time flow",
        "",
        "Written by `make mobile-evidence` (tests/e2e/test_web_flow.py with "
        "`PEGASUS_WRITE_EVIDENCE=1`): real Chromium with each phone's device profile "
        "against an embedded Pegasus. Screenshots are at CSS pixel size.",
        "",
    ]
    for phone in sorted(PHONES):
        folder = EVIDENCE_DIR / phone
        if not folder.is_dir():
            continue
        lines += [f"## {phone} ({PHONES[phone]})", ""]
        for png in sorted(folder.glob("*.png")):
            label = png.stem.split("-", 1)[1].replace("-", " ") if "-" in png.stem else png.stem
            lines.append(f"- [{png.stem}]({phone}/{png.name}): {label}")
        lines.append("")
    (EVIDENCE_DIR / "index.md").write_text("\n".join(lines), encoding="utf-8")


def check_screen(page: Page, evidence: Evidence, name: str) -> None:
    """axe-core finds nothing serious; nothing scrolls sideways on this phone or at 360 px."""
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    own = page.viewport_size
    assert own is not None
    page.set_viewport_size(NARROW_VIEWPORT)
    assert_no_horizontal_scroll(page)
    page.set_viewport_size(own)
    evidence.shot(page, name)


def invitation_path(deployment: Deployment) -> str:
    """A fresh single-use sign-up link from `pegasus users invite`, as a path on the server."""
    link = deployment.cli("users", "invite").strip().splitlines()[-1]
    parts = urlsplit(link)
    assert parts.path.startswith("/signup"), link
    return f"{parts.path}?{parts.query}"


def sign_up(page: Page, deployment: Deployment, email: str, evidence: Evidence | None) -> None:
    page.goto(deployment.base_url + invitation_path(deployment))
    if evidence:
        check_screen(page, evidence, "01-invitation-sign-up")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("Type the password again").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()
    page.goto(deployment.base_url + "/courses")
    expect(page.get_by_role("heading", name="Your courses")).to_be_visible()


def create_course(page: Page, name: str, evidence: Evidence | None = None) -> str:
    """Create a course from /courses; returns its id (the page moves on to the presets)."""
    if evidence:
        check_screen(page, evidence, "02-courses-empty")
        page.get_by_role("button", name="Create course").click()  # no name: the error
        expect(page.get_by_test_id("error-summary")).to_contain_text("Enter a name for the course")
        check_screen(page, evidence, "03-course-name-missing")
    page.get_by_label("Course name").fill(name)
    with page.expect_navigation():
        page.get_by_role("button", name="Create course").click()
    match = re.search(r"/courses/([^/]+)/new$", page.url)
    assert match, page.url
    return match.group(1)


def pick_preset(page: Page, key: str, evidence: Evidence | None = None) -> None:
    expect(page.get_by_role("heading", name="What should Pegasus make?")).to_be_visible()
    card = page.locator(f'[data-preset="{key}"]')
    expect(card).to_contain_text("About")
    expect(card).to_contain_text("for a 1-hour lecture")
    if evidence:
        check_screen(page, evidence, "04-presets")
    with page.expect_navigation():
        card.click()
    expect(page.get_by_role("heading", name="Add the recording")).to_be_visible()


def lecture_id_of(page: Page) -> str:
    match = re.search(r"/lectures/([^/?#]+)$", page.url)
    assert match, page.url
    return match.group(1)


def wait_until_done(page: Page, status: str = "succeeded") -> None:
    expect(page.get_by_test_id("overall")).to_have_attribute(
        "data-status", status, timeout=DONE_TIMEOUT_MS
    )


def api_json(page: Page, base_url: str, path: str) -> Any:
    """GET an API path with the page's session cookie."""
    response = page.request.get(base_url + path)
    assert response.ok, (path, response.status, response.text())
    return response.json()


def transcript_text(page: Page, base_url: str, lecture_id: str) -> str:
    body = api_json(page, base_url, f"/api/v1/lectures/{lecture_id}/transcript")
    return " ".join(segment["text"] for segment in body["segments"]).lower()


def anki_cards(page: Page, base_url: str, lecture_id: str, tmp_path: Path) -> list[str]:
    """Tap the review page's Anki export, as a learner would, and import the deck with
    Anki; the fronts of its notes."""
    review = f"{base_url}/lectures/{lecture_id}/review"
    if page.url != review:
        page.goto(review)
    with page.expect_download() as info:
        page.locator('#exports a[data-format="apkg"]').tap()
    deck = tmp_path / "lecture.apkg"
    info.value.save_as(deck)
    collection = Collection(str(tmp_path / "collection.anki2"))
    try:
        collection.import_anki_package(
            ImportAnkiPackageRequest(package_path=str(deck), options=ImportAnkiPackageOptions())
        )
        return [collection.get_note(nid).fields[0] for nid in collection.find_notes("")]
    finally:
        collection.close()


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    phone = request.node.callspec.params.get("phone") or request.node.callspec.params["name"]
    return Evidence(str(phone))


@pytest.fixture
def page(phone: BrowserContext) -> Iterator[Page]:
    opened = phone.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    assert errors == [], f"JavaScript errors on the page: {errors}"


# --- the flow by Upload ---------------------------------------------------------------------


def test_first_time_flow_by_upload(
    embedded: Deployment,
    phone: BrowserContext,
    page: Page,
    recordings: Recordings,
    evidence: Evidence,
    tmp_path: Path,
) -> None:
    base = embedded.base_url
    email = f"upload-{evidence.phone}@example.org"
    sign_up(page, embedded, email, evidence)
    course_id = create_course(page, "Biology 101", evidence)
    pick_preset(page, "exam-prep", evidence)
    check_screen(page, evidence, "05-upload-or-record")

    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/events") else None)
    page.get_by_label("Lecture title (optional)").fill("Photosynthesis")
    page.get_by_label("Recording or video").set_input_files(recordings.lecture_m4a)
    with page.expect_navigation(url=re.compile(r"/lectures/[^/]+$"), timeout=60_000):
        page.get_by_role("button", name="Upload", exact=True).click()
    lecture_id = lecture_id_of(page)
    expect(page.get_by_role("heading", name="Photosynthesis")).to_be_visible()
    check_screen(page, evidence, "06-status-processing")

    wait_until_done(page)
    for stage in ("ingest", "transcribe", "generate", "export"):
        expect(page.locator(f'[data-stage="{stage}"]')).to_have_attribute(
            "data-status", "succeeded"
        )
    assert any(f"/api/v1/lectures/{lecture_id}/events" in url for url in streams), streams
    check_screen(page, evidence, "07-status-done")

    # The course lists the lecture with its badge.
    page.goto(f"{base}/courses/{course_id}")
    row = page.locator(f'[data-lecture-id="{lecture_id}"]')
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(row.locator(".badge")).to_have_text("Done")
    check_screen(page, evidence, "08-course-lectures")

    page.goto(f"{base}/lectures/{lecture_id}")
    with page.expect_navigation():
        page.get_by_test_id("review-link").click()
    assert page.url.endswith(f"/lectures/{lecture_id}/review")
    evidence.shot(page, "09-review")
    fronts = anki_cards(page, base, lecture_id, tmp_path)
    assert fronts, "the deck has no cards"
    assert any(word in " ".join(fronts).lower() for word in SPOKEN_WORDS), fronts


# --- the flow by Record ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone says (looped by Chromium)."""
    return synthesize_speech(SPOKEN_TEXT, tmp_path_factory.mktemp("mic") / "mic.wav", fmt="wav")


@pytest.fixture(scope="module")
def mic_browser(playwright: Playwright, speech_wav: Path) -> Iterator[Browser]:
    """Chromium whose microphone plays ``speech_wav``."""
    launched = launch_chromium(
        playwright,
        [
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech_wav}",
        ],
    )
    yield launched
    launched.close()


@pytest.mark.parametrize("name", sorted(PHONES))
def test_first_time_flow_by_record_survives_a_reload(
    embedded: Deployment,
    mic_browser: Browser,
    playwright: Playwright,
    name: str,
    evidence: Evidence,
    tmp_path: Path,
) -> None:
    context = mic_browser.new_context(**phone_profile(playwright, name))
    context.grant_permissions(["microphone"], origin=embedded.base_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        sign_up(page, embedded, f"record-{name}@example.org", None)
        create_course(page, "Cell biology")
        pick_preset(page, "quick-review")
        capture_url = page.url

        page.get_by_role("button", name="Start recording").click()
        expect(page.get_by_test_id("rec-state")).to_contain_text("Recording")
        expect(page.get_by_test_id("rec-time")).to_have_text(
            re.compile(r"0:0[4-9]"), timeout=15_000
        )
        check_screen(page, evidence, "10-recording")
        # Pause and resume: the clock stands still while paused.
        page.get_by_role("button", name="Pause").click()
        paused_at = page.get_by_test_id("rec-time").inner_text()
        time.sleep(1.5)
        assert page.get_by_test_id("rec-time").inner_text() == paused_at
        page.get_by_role("button", name="Resume").click()
        expect(page.get_by_test_id("rec-time")).to_have_text(
            re.compile(r"0:(0[7-9]|1\d)"), timeout=15_000
        )

        # The tab reloads mid-recording (a crash, a locked phone): saved slices survive.
        page.reload()
        unsent = page.get_by_test_id("unsent")
        expect(unsent).to_be_visible()
        expect(unsent).to_contain_text("You have an unsent recording of 0:0")
        check_screen(page, evidence, "11-unsent-recording-offered")
        saved = page.evaluate(
            "async () => (await (await import('/static/js/recording-store.js'))"
            ".listRecordings()).map(r => r.slices)"
        )
        assert len(saved) == 1, saved
        assert saved[0] >= 2, saved

        # A second recording, stopped properly, then uploaded (the unsent one too).
        page.get_by_role("button", name="Start recording").click()
        expect(page.get_by_test_id("rec-time")).to_have_text(
            re.compile(r"0:1[2-9]"), timeout=30_000
        )
        page.get_by_role("button", name="Stop").click()
        expect(page.get_by_test_id("rec-state")).to_contain_text("Recorded 0:1")
        check_screen(page, evidence, "12-recording-stopped")
        with page.expect_navigation(url=re.compile(r"/lectures/[^/]+$"), timeout=60_000):
            page.get_by_role("button", name="Upload recording").click()
        lecture_id = lecture_id_of(page)
        wait_until_done(page)
        heard = transcript_text(page, embedded.base_url, lecture_id)
        assert "energy" in heard, heard
        assert sum(word in heard for word in SPOKEN_WORDS) >= 3, heard
        # What they recorded ends as an Anki deck, downloaded from the review page.
        fronts = anki_cards(page, embedded.base_url, lecture_id, tmp_path)
        assert fronts, "the deck of the recorded lecture has no cards"
        left = page.evaluate(
            "async () => (await (await import('/static/js/recording-store.js'))"
            ".listRecordings()).length"
        )
        assert left == 1, "only the uploaded recording is removed from the device"

        page.goto(capture_url)
        expect(page.get_by_test_id("unsent")).to_be_visible()
        with page.expect_navigation(url=re.compile(r"/lectures/[^/]+$"), timeout=60_000):
            page.get_by_test_id("unsent").get_by_role("button", name="Upload").click()
        recovered = lecture_id_of(page)
        wait_until_done(page)
        assert "energy" in transcript_text(page, embedded.base_url, recovered)
        page.goto(capture_url)
        expect(page.get_by_test_id("unsent")).to_be_hidden()
        assert errors == []
    finally:
        context.close()


# --- failure and Retry ----------------------------------------------------------------------


def set_immutable(path: Path, on: bool) -> None:
    """``chattr +i``/``-i``: nothing can be created in ``path``, not even by root (the suite
    runs as root, which ignores permission bits)."""
    result = subprocess.run(
        ["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"chattr failed (the fault cannot be injected): {result}"


def test_a_failed_stage_shows_its_message_and_retry_completes(
    embedded: Deployment, page: Page, recordings: Recordings, evidence: Evidence
) -> None:
    """Storage refuses the export stage's writes (its folder made immutable while the lecture
    is transcribed): the stage fails with storage.unavailable once its automatic retries are
    spent; with the fault gone, Retry runs the lecture again from that stage, without a new
    upload."""
    sign_up(page, embedded, f"failure-{evidence.phone}@example.org", None)
    course_id = create_course(page, "Chemistry")
    pick_preset(page, "quick-review")
    page.get_by_label("Recording or video").set_input_files(recordings.rich_m4a)
    with page.expect_navigation(url=re.compile(r"/lectures/[^/]+$"), timeout=60_000):
        page.get_by_role("button", name="Upload", exact=True).click()
    lecture_id = lecture_id_of(page)
    storage = Path(embedded.env["PEGASUS_STORAGE_ROOT"])
    exports = storage / lecture_key(course_id, lecture_id, "exports")
    exports.mkdir(parents=True, exist_ok=True)
    set_immutable(exports, True)
    try:
        wait_until_done(page, "failed")
        export = page.locator('[data-stage="export"]')
        expect(export).to_have_attribute("data-status", "failed")
        expected = MESSAGES["storage.unavailable"]
        expect(export).to_contain_text(expected.happened)
        expect(export).to_contain_text(expected.todo)
        for stage in ("ingest", "transcribe", "generate"):
            expect(page.locator(f'[data-stage="{stage}"]')).to_have_attribute(
                "data-status", "succeeded"
            )
        check_screen(page, evidence, "13-stage-failed")
        # A reload (or another device) shows the same failure, rendered by the server.
        page.reload()
        expect(export).to_contain_text(expected.happened)
    finally:
        set_immutable(exports, False)

    export.get_by_test_id("retry").click()
    expect(export).not_to_have_attribute("data-status", "failed")
    check_screen(page, evidence, "14-retry-running")
    wait_until_done(page)
    check_screen(page, evidence, "15-retry-succeeded")
    lecture = api_json(page, embedded.base_url, f"/api/v1/lectures/{lecture_id}")
    attempts = {stage["stage"]: stage["attempt"] for stage in lecture["stages"]}
    assert attempts["ingest"] == attempts["transcribe"] == attempts["generate"] == 1, attempts
    assert attempts["export"] > 1, attempts


# --- an upload cut off mid-way --------------------------------------------------------------


@pytest.fixture(scope="module")
def two_chunk_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200 s recording (6.4 MB): two 5 MiB chunks, under the test servers' 8 MiB limit."""
    return make_long_recording(tmp_path_factory.mktemp("long") / "long.wav", 200.0, SPOKEN_TEXT)


def test_an_upload_cut_off_resumes_from_the_servers_offset(
    embedded: Deployment,
    phone: BrowserContext,
    page: Page,
    two_chunk_wav: Path,
    evidence: Evidence,
) -> None:
    source = two_chunk_wav
    assert source.stat().st_size > CHUNK, "the file must need more than one chunk"
    sign_up(page, embedded, f"resume-{evidence.phone}@example.org", None)
    course_id = create_course(page, "Physics")
    pick_preset(page, "captions-only")

    offsets: list[int] = []
    upload_urls: list[str] = []

    def cut_second_chunk(route: Route, request: Request) -> None:
        if request.method == "PATCH":
            offsets.append(int(request.headers["upload-offset"]))
            upload_urls.append(request.url)
            if len(offsets) == 2:
                phone.set_offline(True)  # the phone loses its connection mid-upload
                route.abort("internetdisconnected")
                return
        route.continue_()

    page.route("**/api/v1/uploads/**", cut_second_chunk)
    page.get_by_label("Recording or video").set_input_files(source)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text("connection dropped", timeout=60_000)
    head = phone.request.fetch(upload_urls[0], method="HEAD", headers={"Tus-Resumable": "1.0.0"})
    assert head.status == 200, head.status
    assert int(head.headers["upload-offset"]) == CHUNK

    with page.expect_navigation(url=re.compile(r"/lectures/[^/]+$"), timeout=60_000):
        phone.set_offline(False)
    assert offsets == [0, CHUNK, CHUNK], offsets  # continued from the server's offset
    lecture_id = lecture_id_of(page)
    stored = Path(embedded.env["PEGASUS_STORAGE_ROOT"]) / lecture_key(course_id, lecture_id, SOURCE)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == (
        hashlib.sha256(source.read_bytes()).hexdigest()
    )

    # A reload during processing keeps the live status.
    expect(page.get_by_test_id("overall")).to_have_attribute(
        "data-status", re.compile("queued|processing")
    )
    page.reload()
    done_before = page.locator('.flow-stage[data-status="succeeded"]').count()
    assert page.get_by_test_id("overall").get_attribute("data-status") in (
        "queued",
        "processing",
        "succeeded",
    )
    wait_until_done(page)
    assert page.locator('.flow-stage[data-status="succeeded"]').count() == 4 >= done_before
