"""A course's PII policy through the API (``GET``/``PUT /api/v1/courses/{id}/privacy``) and
the owner's page (``/courses/{id}/privacy``): defaults, what is stored, every refusal with
its code and sentence, only the owner, ``If-Match``, and the page's form without JavaScript
(CSRF field, errors shown next to the field, the learner's input kept)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from structlog.testing import capture_logs

from pegasus.accounts.service import create_token, create_user
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    PrivacySettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.db.models import Course
from pegasus.db.session import unit_of_work
from pegasus.runtime import Runtime, build_runtime
from tests.support.forms import PASSWORD, form_fields, sign_in, visible_text

ALL = ["email", "phone", "id_number", "roster_name"]


@dataclass
class Server:
    http: TestClient
    runtime: Runtime
    owner: dict[str, str]
    stranger: dict[str, str]
    admin: dict[str, str]

    def course(self) -> str:
        response = self.http.post("/api/v1/courses", json={"name": "Bio"}, headers=self.owner)
        assert response.status_code == 201, response.text
        course_id: str = response.json()["id"]
        return course_id

    def stored(self, course_id: str) -> tuple[list[str], list[str], int | None]:
        with unit_of_work(self.runtime.session_factory) as session:
            course = session.get(Course, course_id)
            assert course is not None
            return course.redaction_kinds, course.roster_names, course.audio_retention_days


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[Server]:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(sqlite_url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
        privacy=PrivacySettings(audio_retention_days=400),
    )
    runtime = build_runtime(settings)
    tokens = {}
    for email, admin in (
        ("o@example.org", False),
        ("s@example.org", False),
        ("a@example.org", True),
    ):
        with unit_of_work(runtime.session_factory) as session:
            create_user(session, email, PASSWORD, is_admin=admin)
        with unit_of_work(runtime.session_factory) as session:
            tokens[email] = {"Authorization": f"Bearer {create_token(session, email)}"}
    with TestClient(create_app(settings, runtime)) as http:
        yield Server(
            http, runtime, tokens["o@example.org"], tokens["s@example.org"], tokens["a@example.org"]
        )
    runtime.close()


def _put(server: Server, course_id: str, body: dict[str, Any], **headers: str) -> Any:
    return server.http.put(
        f"/api/v1/courses/{course_id}/privacy", json=body, headers={**server.owner, **headers}
    )


POLICY = {
    "redaction_kinds": ["roster_name", "email", "email"],
    "roster_names": ["  Jane   Doe ", "jane doe", "", "Wei Li"],
    "audio_retention_days": 30,
}


# --- API -----------------------------------------------------------------------------------


def test_a_new_course_redacts_everything_and_keeps_recordings_for_the_default(
    server: Server,
) -> None:
    course_id = server.course()
    response = server.http.get(f"/api/v1/courses/{course_id}/privacy", headers=server.owner)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "redaction_kinds": ALL,
        "roster_names": [],
        "audio_retention_days": None,
        "default_audio_retention_days": 400,
    }
    assert response.headers["etag"].startswith(f'"privacy.{course_id}.')


def test_put_stores_the_cleaned_policy_and_logs_no_name(server: Server) -> None:
    course_id = server.course()
    with capture_logs() as logs:
        response = _put(server, course_id, POLICY)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "redaction_kinds": ["email", "roster_name"],
        "roster_names": ["Jane Doe", "Wei Li"],
        "audio_retention_days": 30,
        "default_audio_retention_days": 400,
    }
    assert server.stored(course_id) == (["email", "roster_name"], ["Jane Doe", "Wei Li"], 30)
    got = server.http.get(f"/api/v1/courses/{course_id}/privacy", headers=server.owner)
    assert got.json() == response.json()
    assert got.headers["etag"] == response.headers["etag"]
    (event,) = [e for e in logs if e["event"] == "course.privacy.updated"]
    assert event["roster_size"] == 2
    assert "Jane" not in repr(logs)
    # Back to the server's default and no redaction at all: allowed, and stored as such.
    off: dict[str, Any] = {"redaction_kinds": [], "roster_names": [], "audio_retention_days": None}
    assert _put(server, course_id, off).json()["redaction_kinds"] == []
    assert server.stored(course_id) == ([], [], None)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"redaction_kinds": ["email", "passport"]}, "Unknown redaction kinds ['passport']"),
        ({"roster_names": ["x" * 101]}, "roster_names"),
        ({"roster_names": ["Jane\tDoe"]}, "control characters"),
        ({"roster_names": ["Jane\x00Doe"]}, "NUL character"),
        ({"roster_names": [f"Name {i}" for i in range(501)]}, "roster_names"),
        ({"roster_names": "Jane Doe"}, "roster_names"),
        ({"audio_retention_days": 0}, "audio_retention_days"),
        ({"audio_retention_days": 3651}, "audio_retention_days"),
        ({"audio_retention_days": True}, "audio_retention_days"),
        ({"audio_retention_days": "30"}, "audio_retention_days"),
        ({"audio_retention_days": 1.5}, "audio_retention_days"),
    ],
)
def test_bad_input_is_refused_with_a_code_and_a_sentence(
    server: Server, change: dict[str, Any], fragment: str
) -> None:
    course_id = server.course()
    response = _put(server, course_id, {**POLICY, **change})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "request.invalid"
    assert fragment in error["message"]
    assert server.stored(course_id) == (ALL, [], None)


def test_a_missing_field_is_refused(server: Server) -> None:
    course_id = server.course()
    response = _put(server, course_id, {"redaction_kinds": ALL, "roster_names": []})
    assert response.status_code == 422
    assert "audio_retention_days" in response.json()["error"]["message"]


def test_only_the_owner_reads_or_changes_the_policy(server: Server) -> None:
    course_id = server.course()
    path = f"/api/v1/courses/{course_id}/privacy"
    for headers in (server.stranger, server.admin):
        assert server.http.get(path, headers=headers).status_code == 404
        put = server.http.put(path, json=POLICY, headers=headers)
        assert put.status_code == 404
        assert put.json()["error"]["code"] == "not_found"
    assert server.http.get(path).status_code == 401
    assert server.stored(course_id) == (ALL, [], None)


def test_if_match_refuses_a_stale_write(server: Server) -> None:
    course_id = server.course()
    etag = server.http.get(f"/api/v1/courses/{course_id}/privacy", headers=server.owner).headers[
        "etag"
    ]
    assert _put(server, course_id, POLICY, **{"If-Match": etag}).status_code == 200
    stale = _put(server, course_id, {**POLICY, "audio_retention_days": 7}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "edit.conflict"
    assert server.stored(course_id)[2] == 30
    forced = _put(server, course_id, {**POLICY, "audio_retention_days": 7}, **{"If-Match": "*"})
    assert forced.status_code == 200


# --- the page ------------------------------------------------------------------------------


def _sign_in(server: Server, email: str = "o@example.org") -> None:
    sign_in(server.http, email)


def _form(server: Server, course_id: str) -> tuple[str, dict[str, str]]:
    return form_fields(server.http, f"/courses/{course_id}/privacy")


def test_the_page_saves_the_policy_without_javascript(server: Server) -> None:
    course_id = server.course()
    _sign_in(server)
    body, hidden = _form(server, course_id)
    assert body.count('type="checkbox" name="kinds"') == 4
    assert body.count(" checked") == 4
    assert "server\u2019s default of 400 days" in body

    saved = server.http.post(
        f"/courses/{course_id}/privacy",
        data={
            **hidden,
            "kinds": ["email", "roster_name"],
            "roster": "Jane Doe\r\n\r\n  Wei   Li \r\n",
            "retention_days": "90",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/courses/{course_id}/privacy?saved=1"
    assert server.stored(course_id) == (["email", "roster_name"], ["Jane Doe", "Wei Li"], 90)
    shown = server.http.get(saved.headers["location"])
    assert "Saved." in visible_text(shown.text)
    assert "Jane Doe\nWei Li</textarea>" in shown.text
    assert 'value="90"' in shown.text
    assert shown.text.count(" checked") == 2

    # Every box unticked and the days left empty: no redaction, the server's default.
    _, hidden = _form(server, course_id)
    cleared = server.http.post(
        f"/courses/{course_id}/privacy",
        data={**hidden, "roster": "", "retention_days": ""},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    assert server.stored(course_id) == ([], [], None)


@pytest.mark.parametrize(
    ("fields", "field_id", "sentence"),
    [
        ({"retention_days": "ninety"}, "retention_days", "Enter the number of days as a whole"),
        ({"retention_days": "0"}, "retention_days", "Enter a number of days from 1 to 3650"),
        ({"roster": "Jane Doe\n" + "x" * 101}, "roster", "Name 2 is longer than 100 characters"),
        ({"roster": "Jane\x07Doe"}, "roster", "Name 1 holds a character that cannot be used"),
        ({"kinds": ["email", "passport"]}, "kinds", "Choose from the kinds of personal data"),
    ],
)
def test_the_page_says_what_is_wrong_and_keeps_the_input(
    server: Server, fields: dict[str, Any], field_id: str, sentence: str
) -> None:
    course_id = server.course()
    _sign_in(server)
    _, hidden = _form(server, course_id)
    data = {**hidden, "kinds": ["phone"], "roster": "Wei Li", "retention_days": "", **fields}
    answer = server.http.post(f"/courses/{course_id}/privacy", data=data)
    assert answer.status_code == 422, answer.text
    assert sentence in visible_text(answer.text)
    assert f'href="#{field_id}"' in answer.text  # the summary links to the field
    assert f'id="{field_id}-error"' in answer.text
    assert server.stored(course_id) == (ALL, [], None)
    if "roster" not in fields:
        assert "Wei Li</textarea>" in answer.text


def test_the_page_refuses_a_stale_form_and_a_post_without_csrf(server: Server) -> None:
    course_id = server.course()
    _sign_in(server)
    _, hidden = _form(server, course_id)
    assert _put(server, course_id, POLICY).status_code == 200  # changed elsewhere meanwhile
    stale = server.http.post(
        f"/courses/{course_id}/privacy",
        data={**hidden, "kinds": ["phone"], "roster": "", "retention_days": ""},
    )
    assert stale.status_code == 409
    assert "Someone changed this" in visible_text(stale.text)
    assert server.stored(course_id)[2] == 30
    forged = server.http.post(
        f"/courses/{course_id}/privacy",
        data={"version": hidden["version"], "kinds": ["phone"], "roster": "", "retention_days": ""},
    )
    assert forged.status_code == 403
    assert server.stored(course_id)[2] == 30


def test_the_page_of_someone_elses_course_is_missing(server: Server) -> None:
    course_id = server.course()
    _sign_in(server, "s@example.org")
    assert server.http.get(f"/courses/{course_id}/privacy").status_code == 404
    signed_out = TestClient(server.http.app)
    answer = signed_out.get(f"/courses/{course_id}/privacy", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")
