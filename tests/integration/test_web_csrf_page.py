"""A page form sent without its CSRF token (a stale tab, another site) on the embedded
column: a browser (Accept prefers HTML) gets a 403 page that says what happened and what to
do, in ``auth.csrf``'s learner words; an API client keeps the JSON error body. Either way
nothing is done."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from pegasus.web.messages import message_for
from pegasus_testkit.deployment import Deployment, embedded_deployment
from pegasus_testkit.lectures import Recordings
from tests.support.browser import PASSWORD

#: What Chromium sends with a navigation or a form post.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
CSRF_MESSAGE = message_for("auth.csrf")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF_FIELD.search(page.text)
    assert found, page.text
    return found.group(1)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with embedded_deployment(tmp_path_factory.mktemp("csrf-page")) as running:
        yield running


@pytest.fixture
def browser_client(embedded: Deployment) -> Iterator[httpx.Client]:
    """An httpx client signed in through the /login form, as a browser would be."""
    email = f"csrf-{uuid.uuid4().hex[:12]}@example.org"
    embedded.create_user(email)
    with httpx.Client(base_url=embedded.base_url, timeout=30) as client:
        answer = client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": form_token(client, "/login")},
        )
        assert answer.status_code == 303, answer.text
        assert "pegasus_session" in client.cookies
        yield client


def page_text(body: str) -> str:
    """The page's visible text with tags dropped, entities decoded and spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def assert_csrf_page(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    text = page_text(response.text)
    assert "Your form was not sent" in text
    assert CSRF_MESSAGE.happened in text
    assert CSRF_MESSAGE.todo in text
    assert response.text.lstrip().lower().startswith("<!doctype html>")
    assert '<link rel="stylesheet" href="/static/css/app.css">' in response.text  # base.html
    assert '"error"' not in response.text
    assert "auth.csrf" not in response.text
    return response.text


def back_link(body: str) -> tuple[str, str]:
    found = re.search(r'<a class="button primary" href="([^"]*)">([^<]*)</a>', body)
    assert found, body
    return html.unescape(found.group(1)), found.group(2)


def test_stale_course_form_gets_a_page_and_creates_nothing(
    browser_client: httpx.Client, embedded: Deployment
) -> None:
    response = browser_client.post(
        "/courses",
        data={"name": "Never created"},  # no csrf_token field: a form from a stale tab
        headers={"Accept": BROWSER_ACCEPT, "Referer": f"{embedded.base_url}/courses"},
    )
    body = assert_csrf_page(response)
    assert back_link(body) == ("/courses", "Reload the form")

    # A wrong token is refused the same way.
    wrong = browser_client.post(
        "/courses",
        data={"name": "Never created", "csrf_token": "x" * 43},
        headers={"Accept": BROWSER_ACCEPT},
    )
    assert back_link(assert_csrf_page(wrong)) == ("/courses", "Go to your courses")

    courses = browser_client.get("/api/v1/courses", headers={"Accept": "application/json"})
    assert courses.status_code == 200
    assert [c["name"] for c in courses.json()] == []


def test_stale_sign_out_form_gets_a_page_and_stays_signed_in(
    browser_client: httpx.Client, embedded: Deployment
) -> None:
    response = browser_client.post(
        "/logout",
        data={},
        headers={
            "Accept": "text/html",
            "Referer": f"{embedded.base_url}/account?tab=tokens",
        },
    )
    body = assert_csrf_page(response)
    assert back_link(body) == ("/account?tab=tokens", "Reload the form")
    # Refused means not done: the session still works.
    account = browser_client.get("/account")
    assert account.status_code == 200
    assert "Your account" in account.text


def test_another_sites_referer_is_never_linked(
    browser_client: httpx.Client,
) -> None:
    response = browser_client.post(
        "/logout",
        data={"csrf_token": ""},
        headers={"Accept": BROWSER_ACCEPT, "Referer": "https://evil.example/courses"},
    )
    assert back_link(assert_csrf_page(response)) == ("/courses", "Go to your courses")


@pytest.mark.parametrize(
    "accept",
    ["application/json", "*/*", None, "text/html;q=0.5, application/json"],
    ids=["json", "any", "none", "json-preferred"],
)
def test_api_clients_keep_the_json_body(browser_client: httpx.Client, accept: str | None) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = browser_client.post("/logout", data={}, headers=headers)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "auth.csrf"
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]

    # The API itself (cookie-authenticated JSON POST without the header): JSON too.
    api = browser_client.post("/api/v1/courses", json={"name": "Never created"}, headers=headers)
    assert api.status_code == 403, api.text
    assert api.json()["error"]["code"] == "auth.csrf"


def test_the_same_form_with_its_token_still_works(browser_client: httpx.Client) -> None:
    response = browser_client.post(
        "/courses",
        data={"name": "Biology 101", "csrf_token": form_token(browser_client, "/courses")},
        headers={"Accept": BROWSER_ACCEPT},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/courses/")


def session_token(client: httpx.Client) -> str:
    """The signed-in session's CSRF token, as pages carry it for their scripts."""
    page = client.get("/courses")
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text
    return found.group(1)


def test_the_upload_form_works_without_script_and_refuses_a_non_recording(
    browser_client: httpx.Client, recordings: Recordings
) -> None:
    """The capture page's plain form (before its script loads): one multipart POST with the
    CSRF field, through the same upload as the API; a text file gets the learner message."""
    course = browser_client.post(
        "/api/v1/courses",
        json={"name": "No script"},
        headers={"X-CSRF-Token": session_token(browser_client)},
    ).json()
    capture = f"/courses/{course['id']}/new/quick-review"
    with recordings.lecture_m4a.open("rb") as fh:
        sent = browser_client.post(
            f"/courses/{course['id']}/lectures",
            data={"preset": "quick-review", "csrf_token": form_token(browser_client, capture)},
            files={"file": ("talk.m4a", fh, "audio/mp4")},
            headers={"Accept": BROWSER_ACCEPT},
        )
    assert sent.status_code == 303, sent.text
    lecture_id = sent.headers["location"].rsplit("/", 1)[-1]
    lecture = browser_client.get(f"/api/v1/lectures/{lecture_id}").json()
    assert lecture["course_id"] == course["id"]
    assert lecture["preset"] == "quick-review"

    refused = browser_client.post(
        f"/courses/{course['id']}/lectures",
        data={"preset": "no-such-preset", "csrf_token": form_token(browser_client, capture)},
        files={"file": ("talk.m4a", b"not audio", "audio/mp4")},
        headers={"Accept": BROWSER_ACCEPT},
    )
    assert refused.status_code == 422
    assert message_for("preset.unknown").happened in page_text(refused.text)
    listed = browser_client.get(f"/api/v1/courses/{course['id']}/lectures").json()
    assert [item["id"] for item in listed] == [lecture_id]
