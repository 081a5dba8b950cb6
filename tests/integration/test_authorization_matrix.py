"""Authorization, route by route: every operation of the OpenAPI document and every route
outside it (pages, static files, /metrics, /docs) is called as anonymous, as another user,
as the owner of the thing it names and as an admin; signed in with a bearer token and with a
session cookie, and for POST/PUT/PATCH/DELETE with the cookie but without the CSRF token.
Each call is one test (``METHOD path | caller | credential``) asserting a concrete status and
the error code, page text or redirect that goes with it.

``MATRIX`` says, for each (method, path template), who may call it (``Access``), how callers
sign in there (``Auth``) and what an allowed call answers; the other answers follow from
those two (``expected``): 401 ``auth.required`` for an API call without credentials, a 303
to the sign-in page for a page, 404 for another person's thing (never 403: whether it exists
is not told), 403 ``auth.forbidden`` for a non-admin on an admin route, 403 ``auth.csrf`` for
a cookie without its CSRF token. A route the app has and the matrix lacks, or the other way
round, fails ``test_the_matrix_lists_every_route``: a new route needs a line here.

Path parameters name the owner's real things (``tests.support.authz_world``), so another
user and the admin meet a thing that exists and is not theirs, and no answer by anyone but
the owner may show the owner's data (``OWNER_MARKERS``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol
from urllib.parse import quote

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from pegasus.accounts.web_sessions import SESSION_COOKIE
from pegasus.web.pages import ANON_CSRF_COOKIE
from tests.factories import PASSWORD
from tests.support.authz_world import (
    NOBODY,
    RECORDING,
    SEARCH_WORD,
    WEBHOOK_SECRET,
    Account,
    World,
    authz_world,
)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What Chromium sends with a navigation or a form post: pages answer pages.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
TUS = {"Tus-Resumable": "1.0.0"}
#: The value of the signed-out forms' CSRF cookie and field (any value works if both match).
ANONYMOUS_CSRF = "authz-matrix-anonymous-csrf-token"


class Response(Protocol):
    """What is read of an answer (the test client's response)."""

    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def json(self) -> Any: ...


class Auth(Enum):
    """How a caller signs in at a route."""

    NONE = "no sign-in: every caller gets the same answer"
    API = "bearer token or session cookie (pegasus.dependencies.current_user)"
    PAGE = "session cookie only; signed out: 303 to /login (pegasus.web.auth.page_user)"
    WEBHOOK = "the Alertmanager webhook secret as a bearer token, nothing else"


class Access(Enum):
    """Who may call a route."""

    PUBLIC = "anyone"
    SELF = "any signed-in user, on their own things"
    OWNER = "the owner of the thing named in the path; anyone else: hidden (404)"
    OWNER_OR_ADMIN = "the owner of the thing named in the path or an admin; others: hidden"
    ADMIN = "admins; other signed-in users: forbidden (403)"
    ADMIN_HIDDEN = "admins; other signed-in users: hidden (404)"


@dataclass(frozen=True)
class Expect:
    """An answer: its status and, where there is one, what identifies it."""

    status: int
    code: str | None = None  # the JSON error body's ``error.code``
    text: str | None = None  # a piece of the body
    location: str | None = None  # how the ``Location`` header starts

    def __str__(self) -> str:
        parts = [str(self.status)]
        parts += [f"code={self.code}"] if self.code else []
        parts += [f"text={self.text!r}"] if self.text else []
        parts += [f"location={self.location}"] if self.location else []
        return " ".join(parts)


@dataclass(frozen=True)
class Call:
    """The request a route gets, apart from credentials (``send`` adds them)."""

    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    content: bytes | None = None
    #: A signed-out form (log in, sign up): it carries the anonymous CSRF cookie and field.
    signed_out_form: bool = False


Build = Callable[[World], Call]


@dataclass(frozen=True)
class Route:
    """One line of the matrix."""

    auth: Auth
    access: Access
    allowed: Expect  # what a caller who may call it gets
    build: Build
    #: Auth.NONE routes that answer a signed-in browser differently (``/``, ``/login``).
    signed_in: Expect | None = None
    #: A cookie without the CSRF token (default: 403 auth.csrf, as JSON or as the page).
    csrf: Expect | None = None
    #: Not the owner (Access.OWNER / ADMIN_HIDDEN), or not an admin (Access.ADMIN).
    refused: Expect | None = None
    #: An admin's answer lists everyone's (the owner's email with them); see OWNER_MARKERS.
    admin_sees_all: bool = False


# --- expected answers --------------------------------------------------------------------

UNAUTHENTICATED = Expect(401, code="auth.required")
FORBIDDEN = Expect(403, code="auth.forbidden")
HIDDEN = Expect(404, code="not_found")
CSRF_REFUSED = Expect(403, code="auth.csrf")
CSRF_REFUSED_PAGE = Expect(403, text="Your form was not sent")
PAGE_HIDDEN = Expect(404, text="cannot be found")  # flow_missing.html
LECTURE_HIDDEN = Expect(404, text="This lecture does not exist, or it is not yours.")
ADMINS_ONLY_PAGE = Expect(403, text="Administrators only")
STALE_FORM = Expect(400, text="This form was open too long or cookies are blocked")
SIGNED_OUT = Expect(303, location="/login?signed_out=1")
#: A page signed out: to the sign-in page, which sends the browser back here afterwards
#: (the test adds the path).
SIGN_IN = Expect(303, location="/login?next=")


def ok(status: int = 200, *, text: str | None = None, location: str | None = None) -> Expect:
    return Expect(status, text=text, location=location)


# --- request builders ----------------------------------------------------------------------


def api(path: str, **kwargs: Any) -> Build:
    """A call to ``path`` with the owner's ids filled in (``{course_id}`` and friends)."""
    return lambda w: Call(path.format(**ids(w)), **kwargs)


def ids(w: World) -> dict[str, str]:
    return {
        "course_id": w.course_id,
        "lecture_id": w.lecture_id,
        "upload_id": w.upload_id,
        "token_id": w.token_id,
    }


def lecture_path(w: World, tail: str) -> str:
    return f"/api/v1/lectures/{w.lecture_id}{tail}"


def upload_file() -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("matrix.wav", RECORDING, "audio/wav")}


def tus_metadata(course_id: str) -> str:
    pairs = {"course_id": course_id, "filename": "matrix.wav", "filetype": "audio/wav"}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


ALERT = {
    "version": "4",
    "status": "firing",
    "receiver": "pegasus",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "AuthzMatrix", "severity": "warning"},
            "annotations": {"summary": "matrix"},
            "startsAt": "2026-12-07T10:00:00Z",
            "fingerprint": "authzmatrix",
        }
    ],
}
PRIVACY_POLICY = {
    "redaction_kinds": ["email", "roster_name"],
    "roster_names": ["Ada Lovelace"],
    "audio_retention_days": None,
}
COURSE_PRESET = {"name": "Matrix preset", "outputs": ["summary", "flashcards"], "exports": ["md"]}


def kit_item_call(collection: str, method: str) -> Build:
    """PATCH edits one fixed item; DELETE takes another, still there, each time."""

    def build(w: World) -> Call:
        first = w.kit_item(collection)
        item = first if method == "PATCH" else w.kit_item(collection, skip=first)
        body: dict[str, Any] = (
            {"front": "Edited by the matrix"}
            if collection == "flashcards"
            else {"question": "Edited by the matrix?"}
        )
        return Call(
            lecture_path(w, f"/{collection}/{item}"), json=body if method == "PATCH" else None
        )

    return build


def signup_form(w: World) -> Call:
    _id, invite = w.fresh_invitation()
    return Call(
        "/signup",
        form={
            "invite": invite,
            "email": w.fresh_email(),
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
        signed_out_form=True,
    )


def login_form(w: World) -> Call:
    return Call("/login", form={"email": w.owner.email, "password": PASSWORD}, signed_out_form=True)


# --- the matrix --------------------------------------------------------------------------

L = "/api/v1/lectures/{lecture_id}"

MATRIX: dict[tuple[str, str], Route] = {
    # --- machine endpoints, docs, static files: public ---
    ("GET", "/healthz"): Route(Auth.NONE, Access.PUBLIC, ok(text='"ok"'), api("/healthz")),
    ("GET", "/readyz"): Route(Auth.NONE, Access.PUBLIC, ok(text='"ready"'), api("/readyz")),
    ("GET", "/metrics"): Route(
        Auth.NONE, Access.PUBLIC, ok(text="pegasus_http_requests_total"), api("/metrics")
    ),
    ("GET", "/openapi.json"): Route(
        Auth.NONE, Access.PUBLIC, ok(text='"openapi"'), api("/openapi.json")
    ),
    ("HEAD", "/openapi.json"): Route(Auth.NONE, Access.PUBLIC, ok(), api("/openapi.json")),
    ("GET", "/docs"): Route(Auth.NONE, Access.PUBLIC, ok(text="swagger-ui"), api("/docs")),
    ("GET", "/static/{path}"): Route(Auth.NONE, Access.PUBLIC, ok(), api("/static/css/app.css")),
    ("OPTIONS", "/api/v1/uploads"): Route(
        Auth.NONE, Access.PUBLIC, ok(204), api("/api/v1/uploads")
    ),
    ("POST", "/api/v1/ops/alerts"): Route(
        Auth.WEBHOOK, Access.PUBLIC, ok(text='"recorded":1'), api("/api/v1/ops/alerts", json=ALERT)
    ),
    # --- the app shell and signing in: public ---
    ("GET", "/"): Route(
        Auth.NONE,
        Access.PUBLIC,
        ok(303, location="/login"),
        api("/"),
        signed_in=ok(303, location="/courses"),
    ),
    ("GET", "/offline"): Route(Auth.NONE, Access.PUBLIC, ok(), api("/offline")),
    ("GET", "/sw.js"): Route(Auth.NONE, Access.PUBLIC, ok(), api("/sw.js")),
    ("GET", "/login"): Route(
        Auth.NONE,
        Access.PUBLIC,
        ok(text='name="password"'),
        api("/login"),
        signed_in=ok(303, location="/courses"),
    ),
    ("POST", "/login"): Route(
        Auth.NONE, Access.PUBLIC, ok(303, location="/courses"), login_form, csrf=STALE_FORM
    ),
    ("POST", "/logout"): Route(
        Auth.NONE, Access.PUBLIC, SIGNED_OUT, api("/logout", form={}), csrf=CSRF_REFUSED_PAGE
    ),
    ("GET", "/signup"): Route(
        Auth.NONE,
        Access.PUBLIC,
        ok(text="Create your account"),
        lambda w: Call("/signup", query={"invite": w.fresh_invitation()[1]}),
    ),
    ("POST", "/signup"): Route(
        Auth.NONE, Access.PUBLIC, ok(303, location="/courses"), signup_form, csrf=STALE_FORM
    ),
    # --- API: a user's own things ---
    ("GET", "/api/v1/courses"): Route(Auth.API, Access.SELF, ok(), api("/api/v1/courses")),
    ("POST", "/api/v1/courses"): Route(
        Auth.API, Access.SELF, ok(201), api("/api/v1/courses", json={"name": "Matrix course"})
    ),
    ("GET", "/api/v1/presets"): Route(
        Auth.API, Access.SELF, ok(text="quick-review"), api("/api/v1/presets")
    ),
    ("GET", "/api/v1/search"): Route(
        Auth.API, Access.SELF, ok(), api("/api/v1/search", query={"q": SEARCH_WORD})
    ),
    ("GET", "/api/v1/tokens"): Route(Auth.API, Access.SELF, ok(), api("/api/v1/tokens")),
    ("POST", "/api/v1/tokens"): Route(
        Auth.API, Access.SELF, ok(201), api("/api/v1/tokens", json={"name": "matrix"})
    ),
    # --- API: the owner's things ---
    ("GET", "/api/v1/courses/{course_id}"): Route(
        Auth.API, Access.OWNER, ok(text="Authz biology"), api("/api/v1/courses/{course_id}")
    ),
    ("GET", "/api/v1/courses/{course_id}/presets"): Route(
        Auth.API, Access.OWNER, ok(text="exam-prep"), api("/api/v1/courses/{course_id}/presets")
    ),
    ("POST", "/api/v1/courses/{course_id}/presets"): Route(
        Auth.API,
        Access.OWNER,
        ok(201, text="matrix-preset"),
        api("/api/v1/courses/{course_id}/presets", json=COURSE_PRESET),
    ),
    ("POST", "/api/v1/courses/{course_id}/lectures"): Route(
        Auth.API,
        Access.OWNER,
        ok(202, text='"queued"'),
        lambda w: Call(
            f"/api/v1/courses/{w.course_id}/lectures",
            files=upload_file(),
            form={"title": "Matrix upload"},
        ),
    ),
    ("GET", "/api/v1/courses/{course_id}/lectures"): Route(
        Auth.API,
        Access.OWNER,
        ok(text="Photosynthesis"),
        api("/api/v1/courses/{course_id}/lectures"),
    ),
    ("GET", L): Route(Auth.API, Access.OWNER, ok(text="Photosynthesis"), api(L)),
    ("POST", L + "/retry"): Route(
        Auth.API,
        Access.OWNER,
        ok(202, text='"queued"'),
        lambda w: Call(f"/api/v1/lectures/{w.fresh_failed_lecture()}/retry"),
    ),
    ("GET", L + "/transcript"): Route(
        Auth.API, Access.OWNER, ok(text="chloroplast"), api(L + "/transcript")
    ),
    ("GET", L + "/exports/{fmt}"): Route(
        Auth.API, Access.OWNER, ok(text="chloroplast"), api(L + "/exports/md")
    ),
    ("GET", L + "/kit"): Route(Auth.API, Access.OWNER, ok(text="flashcards"), api(L + "/kit")),
    ("PATCH", L + "/transcript/segments/{position}"): Route(
        Auth.API,
        Access.OWNER,
        ok(text="Good morning, matrix."),
        api(L + "/transcript/segments/0", json={"text": "Good morning, matrix."}),
    ),
    ("PATCH", L + "/flashcards/{item_id}"): Route(
        Auth.API,
        Access.OWNER,
        ok(text="Edited by the matrix"),
        kit_item_call("flashcards", "PATCH"),
    ),
    ("DELETE", L + "/flashcards/{item_id}"): Route(
        Auth.API, Access.OWNER, ok(204), kit_item_call("flashcards", "DELETE")
    ),
    ("PATCH", L + "/quiz/{item_id}"): Route(
        Auth.API,
        Access.OWNER,
        ok(text="Edited by the matrix?"),
        kit_item_call("quiz", "PATCH"),
    ),
    ("DELETE", L + "/quiz/{item_id}"): Route(
        Auth.API, Access.OWNER, ok(204), kit_item_call("quiz", "DELETE")
    ),
    ("POST", L + "/regenerate"): Route(
        Auth.API,
        Access.OWNER,
        ok(202, text='"queued"'),
        lambda w: Call(f"/api/v1/lectures/{w.fresh_finished_lecture()}/regenerate"),
    ),
    ("GET", L + "/events"): Route(
        Auth.API, Access.OWNER, ok(text="event: lecture"), api(L + "/events")
    ),
    ("GET", L + "/audio"): Route(Auth.API, Access.OWNER, ok(), api(L + "/audio")),
    ("HEAD", L + "/audio"): Route(
        Auth.API, Access.OWNER, ok(), api(L + "/audio"), refused=Expect(404)
    ),
    ("POST", "/api/v1/uploads"): Route(
        Auth.API,
        Access.OWNER,
        ok(201),
        lambda w: Call(
            "/api/v1/uploads",
            headers={
                **TUS,
                "Upload-Length": "1000",
                "Upload-Metadata": tus_metadata(w.course_id),
            },
        ),
    ),
    ("HEAD", "/api/v1/uploads/{upload_id}"): Route(
        Auth.API,
        Access.OWNER,
        ok(),
        api("/api/v1/uploads/{upload_id}", headers=TUS),
        refused=Expect(404),
    ),
    ("PATCH", "/api/v1/uploads/{upload_id}"): Route(
        Auth.API,
        Access.OWNER,
        ok(204),
        lambda w: Call(
            f"/api/v1/uploads/{w.fresh_upload()}",
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
            content=b"x" * 10,
        ),
    ),
    ("DELETE", "/api/v1/uploads/{upload_id}"): Route(
        Auth.API,
        Access.OWNER,
        ok(204),
        lambda w: Call(f"/api/v1/uploads/{w.fresh_upload()}", headers=TUS),
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): Route(
        Auth.API,
        Access.OWNER,
        ok(204),
        lambda w: Call(f"/api/v1/tokens/{w.fresh_token_id(w.owner)}"),
    ),
    # --- API: admins ---
    ("GET", "/api/v1/ops/summary"): Route(
        Auth.API, Access.ADMIN, ok(text="stages"), api("/api/v1/ops/summary")
    ),
    ("GET", "/api/v1/users"): Route(
        Auth.API, Access.ADMIN, ok(), api("/api/v1/users"), admin_sees_all=True
    ),
    ("POST", "/api/v1/users/{user_id}/disable"): Route(
        Auth.API,
        Access.ADMIN,
        ok(text='"disabled_at":"'),
        lambda w: Call(f"/api/v1/users/{w.fresh_victim()}/disable"),
    ),
    ("POST", "/api/v1/users/{user_id}/enable"): Route(
        Auth.API,
        Access.ADMIN,
        ok(text='"disabled_at":null'),
        lambda w: Call(f"/api/v1/users/{w.fresh_victim(disabled=True)}/enable"),
    ),
    ("GET", "/ops"): Route(Auth.API, Access.ADMIN, ok(text="<h1"), api("/ops")),
    # --- pages: a user's own things ---
    ("GET", "/account"): Route(Auth.PAGE, Access.SELF, ok(text="csrf-token"), api("/account")),
    ("POST", "/account/password"): Route(
        Auth.PAGE,
        Access.SELF,
        ok(text="Your password was changed."),
        api(
            "/account/password",
            form={
                "current_password": PASSWORD,
                "new_password": PASSWORD,
                "new_password_confirm": PASSWORD,
            },
        ),
    ),
    ("POST", "/account/tokens"): Route(
        Auth.PAGE,
        Access.SELF,
        ok(201, text="pgs_"),
        api("/account/tokens", form={"token_name": "matrix", "token_expires_days": ""}),
    ),
    ("POST", "/account/sessions/end-others"): Route(
        Auth.PAGE,
        Access.SELF,
        ok(text="Signed out on"),
        api("/account/sessions/end-others", form={}),
    ),
    ("POST", "/account/sessions/end-all"): Route(
        Auth.PAGE, Access.SELF, SIGNED_OUT, api("/account/sessions/end-all", form={})
    ),
    ("GET", "/search"): Route(
        Auth.PAGE, Access.SELF, ok(text=SEARCH_WORD), api("/search", query={"q": SEARCH_WORD})
    ),
    ("GET", "/courses"): Route(Auth.PAGE, Access.SELF, ok(), api("/courses")),
    ("POST", "/courses"): Route(
        Auth.PAGE,
        Access.SELF,
        ok(303, location="/courses/"),
        api("/courses", form={"name": "Matrix course"}),
    ),
    # --- pages: the owner's things ---
    ("GET", "/account/tokens/{token_id}/revoke"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="Revoke the token"),
        api("/account/tokens/{token_id}/revoke"),
        refused=Expect(404, text="Token not found"),
    ),
    ("POST", "/account/tokens/{token_id}/revoke"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="The token was revoked."),
        lambda w: Call(f"/account/tokens/{w.fresh_token_id(w.owner)}/revoke", form={}),
        refused=Expect(404, text="does not exist or was revoked already"),
    ),
    ("POST", "/account/sessions/{handle}/end"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="That device was signed out."),
        lambda w: Call(f"/account/sessions/{w.fresh_session_handle(w.owner)}/end", form={}),
        refused=Expect(404, text="That session has ended already."),
    ),
    ("GET", "/courses/{course_id}"): Route(
        Auth.PAGE, Access.OWNER, ok(text="Authz biology"), api("/courses/{course_id}")
    ),
    ("GET", "/courses/{course_id}/new"): Route(
        Auth.PAGE, Access.OWNER, ok(text="Authz biology"), api("/courses/{course_id}/new")
    ),
    ("GET", "/courses/{course_id}/new/{preset_key}"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="Quick review"),
        api("/courses/{course_id}/new/quick-review"),
    ),
    ("POST", "/courses/{course_id}/lectures"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(303, location="/lectures/"),
        lambda w: Call(
            f"/courses/{w.course_id}/lectures",
            files=upload_file(),
            form={"preset": "quick-review", "title": "Matrix upload"},
        ),
    ),
    ("GET", "/lectures/{lecture_id}"): Route(
        Auth.PAGE, Access.OWNER, ok(text="Photosynthesis"), api("/lectures/{lecture_id}")
    ),
    ("POST", "/lectures/{lecture_id}/retry"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(303, location="/lectures/"),
        lambda w: Call(f"/lectures/{w.fresh_failed_lecture()}/retry", form={}),
    ),
    ("GET", "/lectures/{lecture_id}/review"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="chloroplast"),
        api("/lectures/{lecture_id}/review"),
        refused=LECTURE_HIDDEN,
    ),
    ("GET", "/lectures/{lecture_id}/study"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="Photosynthesis"),
        api("/lectures/{lecture_id}/study"),
        refused=LECTURE_HIDDEN,
    ),
    ("GET", "/lectures/{lecture_id}/quiz"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="Photosynthesis"),
        api("/lectures/{lecture_id}/quiz"),
        refused=LECTURE_HIDDEN,
    ),
    # --- pages: admins ---
    ("POST", "/account/invitations"): Route(
        Auth.PAGE,
        Access.ADMIN,
        ok(201, text="/signup?invite=inv_"),
        api("/account/invitations", form={"expires_days": "7"}),
        refused=Expect(403, text="Only an administrator can invite people."),
    ),
    ("POST", "/account/invitations/{invitation_id}/revoke"): Route(
        Auth.PAGE,
        Access.ADMIN_HIDDEN,
        ok(text="The invitation was revoked."),
        lambda w: Call(f"/account/invitations/{w.fresh_invitation()[0]}/revoke", form={}),
        refused=Expect(404, text="That invitation does not exist or was used already."),
    ),
    ("GET", "/account/users"): Route(
        Auth.PAGE,
        Access.ADMIN,
        ok(text="victim-"),
        api("/account/users"),
        refused=ADMINS_ONLY_PAGE,
        admin_sees_all=True,
    ),
    ("GET", "/account/users/{user_id}/disable"): Route(
        Auth.PAGE,
        Access.ADMIN,
        ok(text="Disable victim-"),
        lambda w: Call(f"/account/users/{w.fresh_victim()}/disable"),
        refused=ADMINS_ONLY_PAGE,
    ),
    ("POST", "/account/users/{user_id}/disable"): Route(
        Auth.PAGE,
        Access.ADMIN,
        ok(text="is disabled."),
        lambda w: Call(f"/account/users/{w.fresh_victim()}/disable", form={}),
        refused=ADMINS_ONLY_PAGE,
        admin_sees_all=True,
    ),
    ("POST", "/account/users/{user_id}/enable"): Route(
        Auth.PAGE,
        Access.ADMIN,
        ok(text="can sign in again."),
        lambda w: Call(f"/account/users/{w.fresh_victim(disabled=True)}/enable", form={}),
        refused=ADMINS_ONLY_PAGE,
        admin_sees_all=True,
    ),
    # --- a course's PII policy (issue 11 point 3): the course's owner ---
    ("GET", "/api/v1/courses/{course_id}/privacy"): Route(
        Auth.API,
        Access.OWNER,
        ok(text='"redaction_kinds"'),
        api("/api/v1/courses/{course_id}/privacy"),
    ),
    ("PUT", "/api/v1/courses/{course_id}/privacy"): Route(
        Auth.API,
        Access.OWNER,
        ok(text='"roster_names":["Ada Lovelace"]'),
        api("/api/v1/courses/{course_id}/privacy", json=PRIVACY_POLICY),
    ),
    ("GET", "/courses/{course_id}/privacy"): Route(
        Auth.PAGE, Access.OWNER, ok(text="E-mail addresses"), api("/courses/{course_id}/privacy")
    ),
    ("POST", "/courses/{course_id}/privacy"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(303, location="/courses/"),
        api("/courses/{course_id}/privacy", form={"kinds": "email", "roster": "Ada Lovelace"}),
    ),
    # --- a course's transcription mode (issue 12 point 1): the course's owner ---
    ("PATCH", "/api/v1/courses/{course_id}"): Route(
        Auth.API,
        Access.OWNER,
        ok(text='"transcription_mode":"accurate"'),
        api("/api/v1/courses/{course_id}", json={"transcription_mode": "accurate"}),
    ),
    ("POST", "/courses/{course_id}/transcription"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(303, location="/courses/"),
        api("/courses/{course_id}/transcription", form={"mode": "accurate"}),
    ),
    # --- deletion (issue 11 point 4): the owner or an admin; receipts ---
    ("DELETE", "/api/v1/lectures/{lecture_id}"): Route(
        Auth.API,
        Access.OWNER_OR_ADMIN,
        ok(202, text='"subject_type":"lecture"'),
        lambda w: Call(f"/api/v1/lectures/{w.fresh_lecture()}"),
    ),
    ("DELETE", "/api/v1/courses/{course_id}"): Route(
        Auth.API,
        Access.OWNER_OR_ADMIN,
        ok(202, text='"subject_type":"course"'),
        lambda w: Call(f"/api/v1/courses/{w.fresh_course()}"),
    ),
    ("DELETE", "/api/v1/users/{user_id}"): Route(
        Auth.API,
        Access.ADMIN,
        ok(202, text='"subject_type":"user"'),
        lambda w: Call(f"/api/v1/users/{w.fresh_victim()}"),
    ),
    ("GET", "/api/v1/deletions"): Route(
        Auth.API, Access.SELF, ok(), api("/api/v1/deletions"), admin_sees_all=True
    ),
    ("GET", "/api/v1/deletions/{deletion_id}"): Route(
        Auth.API,
        Access.OWNER_OR_ADMIN,
        ok(text='"status":"completed"'),
        lambda w: Call(f"/api/v1/deletions/{w.deletion_id}"),
    ),
    ("GET", "/api/v1/deletions/{deletion_id}/receipt"): Route(
        Auth.API,
        Access.OWNER_OR_ADMIN,
        ok(text="pegasus.deletion-receipt/1"),
        lambda w: Call(f"/api/v1/deletions/{w.deletion_id}/receipt"),
    ),
    ("GET", "/courses/{course_id}/delete"): Route(
        Auth.PAGE, Access.OWNER, ok(text="Delete the course"), api("/courses/{course_id}/delete")
    ),
    ("POST", "/courses/{course_id}/delete"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(303, location="/deletions/"),
        lambda w: Call(f"/courses/{w.fresh_course()}/delete", form={}),
    ),
    ("GET", "/lectures/{lecture_id}/delete"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(text="Delete the lecture"),
        api("/lectures/{lecture_id}/delete"),
    ),
    ("POST", "/lectures/{lecture_id}/delete"): Route(
        Auth.PAGE,
        Access.OWNER,
        ok(303, location="/deletions/"),
        lambda w: Call(f"/lectures/{w.fresh_lecture()}/delete", form={}),
    ),
    ("GET", "/account/users/{user_id}/delete"): Route(
        Auth.PAGE,
        Access.ADMIN_HIDDEN,
        ok(text="Delete the account victim-"),
        lambda w: Call(f"/account/users/{w.fresh_victim()}/delete"),
    ),
    ("POST", "/account/users/{user_id}/delete"): Route(
        Auth.PAGE,
        Access.ADMIN_HIDDEN,
        ok(303, location="/deletions/"),
        lambda w: Call(f"/account/users/{w.fresh_victim()}/delete", form={}),
    ),
    ("GET", "/deletions"): Route(
        Auth.PAGE, Access.SELF, ok(), api("/deletions"), admin_sees_all=True
    ),
    ("GET", "/deletions/{deletion_id}"): Route(
        Auth.PAGE,
        Access.OWNER_OR_ADMIN,
        ok(text="receipt"),
        lambda w: Call(f"/deletions/{w.deletion_id}"),
    ),
    # --- the audit log (issue 11 point 5): admins ---
    ("GET", "/api/v1/audit/events"): Route(
        Auth.API, Access.ADMIN, ok(text='"events"'), api("/api/v1/audit/events")
    ),
    ("GET", "/api/v1/audit/verify"): Route(
        Auth.API, Access.ADMIN, ok(), api("/api/v1/audit/verify")
    ),
}

#: Calls outside the four callers: the Alertmanager webhook with its own secret.
WEBHOOK_CALLER = "alertmanager"

#: What only the owner may see: none of it is in any answer to anyone else.
OWNER_MARKERS = ("owner@authz.example.org", "Authz biology", "Photosynthesis", "chloroplast")

CALLERS = ("anonymous", "other", "owner", "admin")


def admin_may_see_owner(route: Route) -> bool:
    """Whether an admin's answer may show the owner's things (OWNER_MARKERS)."""
    admins = (Access.ADMIN, Access.ADMIN_HIDDEN, Access.OWNER_OR_ADMIN)
    return route.access in admins or route.admin_sees_all


def expected(route: Route, method: str, caller: str, credential: str) -> Expect:
    """The answer ``caller`` signed in with ``credential`` gets from ``route``."""
    page = route.auth is Auth.PAGE
    if route.auth is Auth.WEBHOOK:
        return route.allowed if caller == WEBHOOK_CALLER else UNAUTHENTICATED
    if credential == "cookie_no_csrf":
        default = CSRF_REFUSED_PAGE if page else CSRF_REFUSED
        if route.auth is Auth.NONE:
            assert route.csrf is not None, "a public form names its CSRF refusal"
            return route.csrf
        return route.csrf or default
    if route.auth is Auth.NONE:
        if credential == "cookie" and route.signed_in is not None:
            return route.signed_in
        return route.allowed
    signed_in = caller != "anonymous" and (credential == "cookie" or not page)
    if not signed_in:
        return SIGN_IN if page else UNAUTHENTICATED
    if route.access is Access.SELF:
        return route.allowed
    if route.access is Access.OWNER:
        return (
            route.allowed
            if caller == "owner"
            else route.refused or (PAGE_HIDDEN if page else HIDDEN)
        )
    if route.access is Access.OWNER_OR_ADMIN:
        return (
            route.allowed
            if caller in ("owner", "admin")
            else route.refused or (PAGE_HIDDEN if page else HIDDEN)
        )
    if route.access is Access.ADMIN:
        return route.allowed if caller == "admin" else route.refused or FORBIDDEN
    if route.access is Access.ADMIN_HIDDEN:
        return route.allowed if caller == "admin" else route.refused or PAGE_HIDDEN
    raise AssertionError(f"no rule for {route.access}")


def credentials_for(method: str) -> tuple[str, ...]:
    return (
        ("bearer", "cookie", "cookie_no_csrf") if method in UNSAFE_METHODS else ("bearer", "cookie")
    )


def all_cases() -> Iterator[tuple[str, str, str, str]]:
    for method, path in MATRIX:
        yield method, path, "anonymous", "none"
        for caller in CALLERS[1:]:
            for credential in credentials_for(method):
                yield method, path, caller, credential
        if MATRIX[method, path].auth is Auth.WEBHOOK:
            yield method, path, WEBHOOK_CALLER, "bearer"


CASES = list(all_cases())


# --- sending a case ----------------------------------------------------------------------


def account_of(world: World, caller: str) -> Account:
    return {"other": world.other, "owner": world.owner, "admin": world.admin}[caller]


def send(world: World, method: str, call: Call, caller: str, credential: str) -> Response:
    """``call`` as ``caller`` signed in with ``credential`` (and the CSRF token it needs)."""
    headers = dict(call.headers)
    if not call.path.startswith("/api/"):
        headers["Accept"] = BROWSER_ACCEPT
    form = dict(call.form) if call.form is not None else None
    cookies: dict[str, str] = {}
    if call.signed_out_form and credential != "cookie_no_csrf":
        cookies[ANON_CSRF_COOKIE] = ANONYMOUS_CSRF
        assert form is not None
        form["csrf_token"] = ANONYMOUS_CSRF
    if caller == WEBHOOK_CALLER:
        headers["Authorization"] = f"Bearer {WEBHOOK_SECRET}"
    elif credential == "bearer":
        headers["Authorization"] = f"Bearer {account_of(world, caller).token}"
    elif credential in ("cookie", "cookie_no_csrf"):
        cookie = world.cookie(account_of(world, caller))
        cookies[SESSION_COOKIE] = cookie.value
        if credential == "cookie" and method in UNSAFE_METHODS and not call.signed_out_form:
            if form is not None:
                form["csrf_token"] = cookie.csrf
            else:
                headers["X-CSRF-Token"] = cookie.csrf
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body: dict[str, Any] = {}
    if call.files is not None:
        body = {"data": form or {}, "files": call.files}
    elif form:
        body = {"data": form}
    elif form is not None:  # an empty form is still a form
        body = {"content": b""}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif call.json is not None:
        body = {"json": call.json}
    elif call.content is not None:
        body = {"content": call.content}
    client = world.client
    try:
        return client.request(
            method,
            call.path,
            params=call.query,
            headers=headers,
            follow_redirects=False,
            **body,
        )
    finally:
        client.cookies.clear()  # what a response set never rides along with the next call


def mismatch(response: Response, want: Expect) -> str | None:
    """Why ``response`` is not ``want`` (None when it is)."""
    got = response.status_code
    if got != want.status:
        return f"status {got}, want {want}: {response.text[:300]!r}"
    if want.code is not None:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return f"no error code in {response.text[:300]!r}, want {want.code}"
        if code != want.code:
            return f"error code {code}, want {want.code}"
    if want.text is not None and want.text not in response.text:
        return f"{want.text!r} not in the body: {response.text[:300]!r}"
    if want.location is not None:
        location = response.headers.get("location", "")
        if not location.startswith(want.location):
            return f"Location {location!r}, want {want.location}..."
    return None


# --- the tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with authz_world(tmp_path_factory.mktemp("authz")) as made:
        yield made


def app_routes(world: World) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers: the OpenAPI document's operations
    and the routes left out of it (pages, /metrics, /docs, /openapi.json, static files)."""
    found = {
        (method.upper(), path)
        for path, operations in world.app.openapi()["paths"].items()
        for method in operations
    }
    for route in iter_route_contexts(world.app.routes):
        if isinstance(route.original_route, Mount):
            found.add(("GET", str(route.path_format)))
        elif not getattr(route, "include_in_schema", True):
            found.update((method, str(route.path_format)) for method in route.methods or ())
    return found


def test_the_matrix_lists_every_route(world: World) -> None:
    """A route added to the app needs its line in MATRIX; a line for a route that is gone
    goes too."""
    routes = app_routes(world)
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    listing = "".join(f"\n  {m} {p}" for m, p in missing)
    assert not missing, f"not in MATRIX (add a line saying who may call it):{listing}"
    listing = "".join(f"\n  {m} {p}" for m, p in stale)
    assert not stale, f"in MATRIX but not in the app (remove the line):{listing}"
    assert len(routes) > 70


@pytest.mark.parametrize(
    ("method", "path", "caller", "credential"),
    CASES,
    ids=[f"{m} {p} | {c} | {k}" for m, p, c, k in CASES],
)
def test_route_answers_each_caller_as_the_matrix_says(
    world: World, method: str, path: str, caller: str, credential: str
) -> None:
    route = MATRIX[method, path]
    want = expected(route, method, caller, credential)
    if method == "HEAD":  # no body to read a code or text from
        want = Expect(want.status, location=want.location)
    call = route.build(world)
    if want == SIGN_IN:
        want = Expect(303, location=f"/login?next={quote(call.path, safe='/')}")
    response = send(world, method, call, caller, credential)
    problem = mismatch(response, want)
    assert problem is None, f"{method} {path} as {caller} with {credential}: {problem}"
    if caller == "other" or (caller == "admin" and not admin_may_see_owner(route)):
        # what the request carried itself (the email typed into /login) is no leak
        shown = [m for m in OWNER_MARKERS if m in response.text and m not in repr(call)]
        assert shown == [], f"{method} {path} showed {caller} the owner's {shown}"


def test_hidden_means_the_same_answer_as_nothing_there(world: World) -> None:
    """Another user's course and lecture answer exactly as ids nobody has."""
    other = {"Authorization": f"Bearer {world.other.token}"}
    for template in ("/api/v1/courses/{}", "/api/v1/lectures/{}", "/api/v1/lectures/{}/kit"):
        real = template.format(world.course_id if "courses" in template else world.lecture_id)
        theirs = world.client.get(real, headers=other)
        nobody = world.client.get(template.format(NOBODY), headers=other)
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json()["error"]["code"] == nobody.json()["error"]["code"]
        assert theirs.json()["error"]["message"] == nobody.json()["error"]["message"]
