"""Deleting from the web app on the embedded column (a real `pegasus serve`): a confirmation
page, a form that needs its CSRF token, the deletion's page that reloads itself until the
receipt is ready, and the receipts list."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from pegasus_testkit.deployment import Api, Deployment, embedded_deployment
from pegasus_testkit.lectures import Recordings
from tests.integration.test_web_csrf_page import form_token, page_text
from tests.support.browser import PASSWORD

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with embedded_deployment(tmp_path_factory.mktemp("deletion-pages")) as running:
        yield running


def _signed_in(deployment: Deployment, email: str) -> httpx.Client:
    client = httpx.Client(base_url=deployment.base_url, timeout=30)
    answer = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": form_token(client, "/login")},
    )
    assert answer.status_code == 303, answer.text
    return client


def test_a_learner_deletes_a_course_after_confirming_and_downloads_the_receipt(
    embedded: Deployment, recordings: Recordings
) -> None:
    email = f"pages-{uuid.uuid4().hex[:10]}@example.org"
    api = Api(embedded, embedded.create_user(email))
    browser = _signed_in(embedded, email)
    try:
        course = api.create_course("Genetics")
        uploaded = api.upload(course["id"], recordings.lecture_m4a, content_type="audio/mp4")
        assert uploaded.status_code == 202, uploaded.text

        course_page = browser.get(f"/courses/{course['id']}")
        assert f'href="/courses/{course["id"]}/delete"' in course_page.text
        confirm = browser.get(f"/courses/{course['id']}/delete")
        assert confirm.status_code == 200, confirm.text
        text = page_text(confirm.text)
        assert "Delete the course “Genetics”?" in text
        assert "This deletes 1 lecture " in text

        stale = browser.post(f"/courses/{course['id']}/delete", data={})
        assert stale.status_code == 403, stale.text
        assert api.client.get(f"/api/v1/courses/{course['id']}").status_code == 200

        token = form_token(browser, f"/courses/{course['id']}/delete")
        sent = browser.post(f"/courses/{course['id']}/delete", data={"csrf_token": token})
        assert sent.status_code == 303, sent.text
        location = sent.headers["location"]
        assert re.fullmatch(r"/deletions/[0-9a-f-]{36}", location), location
        assert api.client.get(f"/api/v1/courses/{course['id']}").status_code == 404

        deadline = time.monotonic() + 60
        page = browser.get(location)
        while "Download the receipt" not in page.text:
            assert page.status_code == 200, page.text
            assert page.headers["refresh"] == "3"  # a pending deletion's page reloads itself
            assert time.monotonic() < deadline, page.text
            time.sleep(0.3)
            page = browser.get(location)
        assert "refresh" not in page.headers
        assert "a check found nothing left: 0 records and 0 files remain" in page_text(page.text)
        receipt_url = f"/api/v1{location}/receipt"
        assert f'href="{receipt_url}"' in page.text
        receipt = browser.get(receipt_url)
        assert receipt.status_code == 200, receipt.text
        assert receipt.json()["subject_id"] == course["id"]
        assert receipt.json()["verification"]["passed"] is True

        listed = browser.get("/deletions")
        assert location in listed.text
        assert browser.get(f"/courses/{course['id']}").status_code == 404
        # Another learner cannot see the deletion's page.
        other = f"pages-other-{uuid.uuid4().hex[:8]}@example.org"
        embedded.create_user(other)
        stranger = _signed_in(embedded, other)
        try:
            assert stranger.get(location).status_code == 404
            assert stranger.get(receipt_url).status_code == 404
        finally:
            stranger.close()
    finally:
        browser.close()
        api.close()
