"""Security headers on every response: every route the app has (pages, API, static files,
the docs), called anonymously and signed in, and the refusals the middlewares answer on their
own. The walk is built from the app's own routes, so a new route is walked without being
listed here. The templates and scripts hold no inline script for the policy to allow."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pegasus.accounts.service import create_token
from pegasus.accounts.web_sessions import SESSION_COOKIE, start_session
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.db.base import utcnow
from pegasus.db.session import unit_of_work
from pegasus.runtime import build_runtime
from pegasus.web.pages import STATIC_DIR, TEMPLATES_DIR
from tests.factories import make_course, make_lecture, make_user

#: A well-formed id nothing has.
NOBODY = "00000000-0000-4000-8000-000000000000"
FASTAPI_OWN = {"/openapi.json", "/docs"}


class Answered(Protocol):
    """A response of either HTTP client (TestClient's or httpx)."""

    @property
    def headers(self) -> Mapping[str, str]: ...


def assert_security_headers(response: Answered, where: str) -> None:
    headers = response.headers
    policy = headers.get("content-security-policy")
    assert policy, where
    directives = {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part
    }
    assert directives["default-src"] == ["'self'"], where
    assert directives["frame-ancestors"] == ["'none'"], where
    assert directives["object-src"] == ["'none'"], where
    scripts = directives["script-src"]
    assert scripts[0] == "'self'", where
    assert all(source.startswith("'sha256-") for source in scripts[1:]), (where, scripts)
    assert "'unsafe-inline'" not in scripts, where
    assert "'unsafe-eval'" not in scripts, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") in {"same-origin", "strict-origin-when-cross-origin"}
    assert headers.get("x-frame-options") == "DENY", where


@pytest.fixture
def app_client(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app on a migrated database, with a user who owns a course and a lecture: ids for
    the path parameters, so routes answer 200 where they can."""
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(sqlite_url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    runtime = build_runtime(settings)
    with unit_of_work(runtime.session_factory) as session:
        user = make_user(session, "walker@example.org")
        course = make_course(session, user)
        lecture = make_lecture(session, course)
        values = {
            "course_id": course.id,
            "lecture_id": lecture.id,
            "token": create_token(session, "walker@example.org"),
            "cookie": "",
        }
        new = start_session(session, user, now=utcnow(), lifetime=timedelta(hours=1))
        values["cookie"] = new.token
    with TestClient(create_app(settings, runtime)) as client:
        yield client, values


def _path(template: str, values: dict[str, str], method: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "lecture_id" and (method != "GET" or template.endswith("/events")):
            return NOBODY  # no live stream, no change to a real lecture
        return values.get(name, {"fmt": "md", "preset_key": "quick-review"}.get(name, NOBODY))

    return re.sub(r"\{([a-z_]+)(?::path)?\}", fill, template).replace("{path}", "css/app.css")


def test_every_route_answers_with_the_security_headers(
    app_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, values = app_client
    walked: set[tuple[str, str]] = set()
    statuses: list[int] = []
    routes: set[tuple[str, str]] = set()
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        template = str(route.path_format)
        methods = sorted(route.methods or {"GET"})
        for method in methods:
            routes.add((method, template))
            path = _path(template, values, method)
            api = path.startswith("/api/")
            signed_in = (
                {"Authorization": f"Bearer {values['token']}"}
                if api
                else {"Cookie": f"{SESSION_COOKIE}={values['cookie']}"}
            )
            for headers in ({}, signed_in):
                response = client.request(
                    method,
                    path,
                    headers=headers,
                    follow_redirects=False,
                    json={} if method in {"POST", "PATCH"} else None,
                )
                where = f"{method} {path} ({'signed in' if headers else 'anonymous'})"
                assert response.status_code < 500, (where, response.text[:300])
                assert_security_headers(response, where)
                walked.add((method, template))
                statuses.append(response.status_code)
    assert walked == routes
    # signed in, the routes reach real things: pages and API answer 200, not only refusals
    assert sum(200 <= status < 300 for status in statuses) >= 25, sorted(statuses)
    assert len(routes) > 60
    assert ("GET", "/account") in walked
    assert ("DELETE", "/api/v1/tokens/{token_id}") in walked


def test_refusals_by_the_middlewares_and_unknown_paths_carry_them_too(
    app_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, values = app_client
    bearer = {"Authorization": f"Bearer {values['token']}"}
    refusals = {
        "not found": client.get("/no/such/page"),
        "method": client.put("/api/v1/courses", headers=bearer),
        "NUL": client.get("/api/v1/search?q=%00", headers=bearer),
        "too large": client.post(
            "/api/v1/courses", content=b"x" * (2 * 1024 * 1024), headers=bearer
        ),
        "unauthenticated": client.get("/api/v1/courses"),
        "static": client.get("/static/js/api.js"),
        "service worker": client.get("/sw.js"),
    }
    statuses = {name: response.status_code for name, response in refusals.items()}
    assert statuses == {
        "not found": 404,
        "method": 405,
        "NUL": 422,
        "too large": 413,
        "unauthenticated": 401,
        "static": 200,
        "service worker": 200,
    }
    for name, response in refusals.items():
        assert_security_headers(response, name)


def test_the_docs_page_allows_exactly_its_own_inline_script(
    app_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = app_client
    docs = client.get("/docs", headers={"Accept-Encoding": "gzip"})
    assert docs.status_code == 200
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", docs.text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = docs.headers["content-security-policy"]
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'", f"'sha256-{digest}'"]
    # every other page allows no inline script at all
    assert "sha256-" not in client.get("/login").headers["content-security-policy"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
EVENT_ATTRIBUTE = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"(href|src|action)\s*=\s*\"\s*javascript:", re.I)


def test_templates_and_scripts_need_no_inline_script() -> None:
    """What the policy would block: inline scripts (JSON data blocks are not scripts),
    event-handler attributes, javascript: URLs, and eval in the app's own modules."""
    templates = sorted(TEMPLATES_DIR.glob("*.html"))
    assert len(templates) > 10
    found = []
    for template in templates:
        text = template.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, EVENT_ATTRIBUTE, JAVASCRIPT_URL):
            found += [f"{template.name}: {m.group(0)}" for m in pattern.finditer(text)]
    for script in sorted((STATIC_DIR / "js").glob("*.js")):
        text = script.read_text(encoding="utf-8")
        for marker in ("eval(", "new Function(", ".innerHTML", 'setAttribute("on'):
            if marker in text:
                found.append(f"{script.name}: {marker}")
    assert found == []
