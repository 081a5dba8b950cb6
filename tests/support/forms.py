"""Driving the server-rendered pages without a browser: sign in through the form, read a
page's hidden form fields (CSRF token and ETag version), and a page's visible text."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

PASSWORD = "a long enough password"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_VERSION_FIELD = re.compile(r'name="version" value="([^"]+)"')


def sign_in(http: TestClient, email: str, password: str = PASSWORD) -> None:
    """Sign ``http`` (it keeps the cookies) in through /login; asserts the redirect."""
    page = http.get("/login")
    token = CSRF_FIELD.search(page.text)
    assert token is not None
    answer = http.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def form_fields(http: TestClient, path: str) -> tuple[str, dict[str, str]]:
    """The page at ``path`` (asserted 200) and its form's ``csrf_token`` and ``version``."""
    page = http.get(path)
    assert page.status_code == 200, page.text
    csrf = CSRF_FIELD.search(page.text)
    version = _VERSION_FIELD.search(page.text)
    assert csrf is not None
    assert version is not None
    return page.text, {"csrf_token": csrf.group(1), "version": html.unescape(version.group(1))}


def visible_text(body: str) -> str:
    """An HTML page's text with tags removed and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
