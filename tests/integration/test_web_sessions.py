"""Browser accounts over plain HTTP on both columns: sessions, invitations, CSRF, sign-up
modes. The browser itself is driven in tests/e2e/test_web_auth.py."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pegasus_testkit.cli import run_cli
from pegasus_testkit.deployment import Deployment, embedded_env, running
from tests.support.browser import PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def invite_link(deployment: Deployment, *flags: str) -> str:
    env = {**deployment.env, "PEGASUS_SERVER_PUBLIC_URL": deployment.base_url}
    link = run_cli(env, "users", "invite", *flags).strip()
    assert link.startswith(f"{deployment.base_url}/signup?invite=inv_"), link
    return link


def form_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF_FIELD.search(page.text)
    assert found, page.text
    return found.group(1)


def sign_up(
    client: httpx.Client,
    link: str,
    email: str,
    password: str = PASSWORD,
    *,
    token_from: str | None = None,
) -> httpx.Response:
    invite = link.split("invite=", 1)[1]
    token = form_token(client, token_from or f"/signup?invite={invite}")
    return client.post(
        "/signup",
        data={
            "invite": invite,
            "email": email,
            "password": password,
            "password_confirm": password,
            "csrf_token": token,
        },
    )


def log_in(
    client: httpx.Client, email: str, password: str = PASSWORD, next_path: str = ""
) -> httpx.Response:
    # signed in already, /login redirects: the form's token is the browser's anonymous one
    token = client.cookies.get("pegasus_csrf") or form_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_path},
    )


def session_csrf(client: httpx.Client) -> str:
    page = client.get("/account")
    assert page.status_code == 200, page.text
    found = CSRF_META.search(page.text)
    assert found
    assert found.group(1)
    return found.group(1)


@pytest.fixture(scope="module")
def admin(deployment: Deployment) -> str:
    return deployment.create_user("admin@example.org", admin=True)


def test_invitation_signs_up_once_and_signs_in(deployment: Deployment, admin: str) -> None:
    link = invite_link(deployment)
    with httpx.Client(base_url=deployment.base_url) as browser:
        created = sign_up(browser, link, "Ada@Example.org")
        assert created.status_code == 303, created.text
        assert created.headers["location"] == "/courses"
        cookie = created.headers["set-cookie"]
        assert cookie.startswith("pegasus_session=")
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP here
        account = browser.get("/account")
        assert account.status_code == 200
        assert 'data-testid="account-email">ada@example.org<' in account.text
        assert 'data-testid="invitations"' not in account.text  # not an admin
    with httpx.Client(base_url=deployment.base_url) as other:
        assert other.get(link).status_code == 403
        again = sign_up(other, link, "eve@example.org", token_from="/login")
        assert again.status_code == 403
        assert "not valid" in again.text
        assert "pegasus_session" not in again.headers.get("set-cookie", "")
        assert log_in(other, "eve@example.org").status_code == 401


def test_a_double_submitted_invitation_makes_one_account(
    deployment: Deployment, admin: str
) -> None:
    link = invite_link(deployment)
    invite = link.split("invite=", 1)[1]
    clients = [httpx.Client(base_url=deployment.base_url, timeout=30) for _ in range(4)]
    tokens = [form_token(c, f"/signup?invite={invite}") for c in clients]
    results: list[int] = [0] * len(clients)
    start = threading.Barrier(len(clients))

    def submit(i: int) -> None:
        start.wait()
        results[i] = (
            clients[i]
            .post(
                "/signup",
                data={
                    "invite": invite,
                    "email": f"racer{i}@example.org",
                    "password": PASSWORD,
                    "password_confirm": PASSWORD,
                    "csrf_token": tokens[i],
                },
            )
            .status_code
        )

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [303, 403, 403, 403], results
    signed_in = []
    for i in range(len(clients)):
        with httpx.Client(base_url=deployment.base_url) as check:
            if log_in(check, f"racer{i}@example.org").status_code == 303:
                signed_in.append(i)
    assert signed_in == [results.index(303)]
    for client in clients:
        client.close()


def test_admin_invitation_makes_an_admin_and_the_account_page_invites(
    deployment: Deployment, admin: str
) -> None:
    link = invite_link(deployment, "--admin", "--expires-days", "2")
    with httpx.Client(base_url=deployment.base_url) as browser:
        assert "makes you an administrator" in browser.get(link).text
        assert sign_up(browser, link, "boss@example.org").status_code == 303
        made = browser.post(
            "/account/invitations",
            data={"csrf_token": session_csrf(browser), "expires_days": "3"},
        )
        assert made.status_code == 201, made.text
        new_link = re.search(r'class="secret">([^<]+)<', made.text)
        assert new_link
        assert new_link.group(1).startswith(f"{deployment.base_url}/signup?invite=inv_")
    with httpx.Client(base_url=deployment.base_url) as invited:
        assert sign_up(invited, new_link.group(1), "newbie@example.org").status_code == 303
        assert 'data-testid="invitations"' not in invited.get("/account").text


def test_csrf_is_required_for_cookie_writes_and_bearer_is_unchanged(
    deployment: Deployment, admin: str
) -> None:
    link = invite_link(deployment)
    with httpx.Client(base_url=deployment.base_url) as browser:
        assert sign_up(browser, link, "csrf@example.org").status_code == 303
        refused = browser.post("/api/v1/courses", json={"name": "Biology"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "auth.csrf"
        wrong = browser.post(
            "/api/v1/courses", json={"name": "Biology"}, headers={"X-CSRF-Token": "guess"}
        )
        assert wrong.status_code == 403
        token = session_csrf(browser)
        made = browser.post(
            "/api/v1/courses", json={"name": "Biology"}, headers={"X-CSRF-Token": token}
        )
        assert made.status_code == 201, made.text
        listed = browser.get("/api/v1/courses")  # reads need no token
        assert [c["name"] for c in listed.json()] == ["Biology"]
        # a page form without its field is refused too
        no_field = browser.post("/account/tokens", data={"token_name": "laptop"})
        assert no_field.status_code == 403
        assert no_field.json()["error"]["code"] == "auth.csrf"
        with_field = browser.post(
            "/account/tokens", data={"token_name": "laptop", "csrf_token": token}
        )
        assert with_field.status_code == 201
        secret = re.search(r'class="secret">(pgs_[^<]+)<', with_field.text)
        assert secret
        # a bearer header decides alone: no CSRF token needed, and a bad one is refused even
        # though the session cookie would be valid
        bearer = browser.post(
            "/api/v1/courses",
            json={"name": "Chemistry"},
            headers={"Authorization": f"Bearer {secret.group(1)}"},
        )
        assert bearer.status_code == 201, bearer.text
        bad = browser.get("/api/v1/courses", headers={"Authorization": "Bearer pgs_nope"})
        assert bad.status_code == 401
    with httpx.Client(base_url=deployment.base_url) as api:
        plain = api.get("/api/v1/courses", headers={"Authorization": f"Bearer {admin}"})
        assert plain.status_code == 200
        assert api.get("/api/v1/courses").status_code == 401


def test_sign_in_rotates_and_sign_out_ends_the_session(deployment: Deployment, admin: str) -> None:
    link = invite_link(deployment)
    with httpx.Client(base_url=deployment.base_url) as browser:
        assert sign_up(browser, link, "rotate@example.org").status_code == 303
        first = browser.cookies["pegasus_session"]
        signed_in = log_in(browser, "rotate@example.org", next_path="/account")
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/account"
        second = browser.cookies["pegasus_session"]
        assert second != first
    with httpx.Client(base_url=deployment.base_url, cookies={"pegasus_session": first}) as old:
        gone = old.get("/account")
        assert gone.status_code == 303
        assert gone.headers["location"] == "/login?next=/account"
    with httpx.Client(base_url=deployment.base_url, cookies={"pegasus_session": second}) as cur:
        token = session_csrf(cur)
        assert cur.post("/logout", data={}).status_code == 403  # CSRF-checked
        out = cur.post("/logout", data={"csrf_token": token})
        assert out.status_code == 303
        assert out.headers["location"] == "/login?signed_out=1"
    with httpx.Client(base_url=deployment.base_url, cookies={"pegasus_session": second}) as replay:
        assert replay.get("/account").status_code == 303
        assert replay.get("/api/v1/courses").status_code == 401


def test_log_in_refuses_wrong_passwords_stale_forms_and_foreign_next(
    deployment: Deployment, admin: str
) -> None:
    with httpx.Client(base_url=deployment.base_url) as browser:
        wrong = log_in(browser, "admin@example.org", "not the password")
        assert wrong.status_code == 401
        assert 'data-testid="error-summary"' in wrong.text
        assert "The email address or the password is not right" in wrong.text
        stale = browser.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
        assert stale.status_code == 400
        assert "cookies are allowed" in stale.text
        for foreign in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            away = log_in(browser, "admin@example.org", next_path=foreign)
            assert away.status_code == 303
            assert away.headers["location"] == "/courses", foreign
        assert browser.get("/").headers["location"] == "/courses"
    with httpx.Client(base_url=deployment.base_url) as anonymous:
        assert anonymous.get("/").headers["location"] == "/login"
        assert anonymous.get("/account").headers["location"] == "/login?next=/account"


@pytest.fixture
def embedded_with(tmp_path: Path) -> dict[str, str]:
    """Environment for an embedded server whose settings a test chooses (see _serve), on a
    fresh clone of the migrated template database."""
    return {**embedded_env(tmp_path), "PEGASUS_SERVER_RUN_CONSUMER": "false"}


@contextlib.contextmanager
def _serve(env: dict[str, str], root: Path, **settings: str) -> Iterator[Deployment]:
    deployment = Deployment(name="embedded", env={**env, **settings}, workdir=root)
    with running(deployment, workers=0, migrate=False) as started:
        yield started


def test_signup_modes(embedded_with: dict[str, str], tmp_path: Path) -> None:
    with (
        _serve(embedded_with, tmp_path, PEGASUS_ACCOUNTS_SIGNUP="closed") as started,
        httpx.Client(base_url=started.base_url) as browser,
    ):
        closed = browser.get("/signup")
        assert closed.status_code == 403
        assert "Sign-up is closed on this server" in closed.text
        link = invite_link(started)
        assert "Sign-up is closed" in browser.get(link).text
        assert "Create an account" not in browser.get("/login").text
    with (
        _serve(embedded_with, tmp_path, PEGASUS_ACCOUNTS_SIGNUP="open") as started,
        httpx.Client(base_url=started.base_url) as browser,
    ):
        assert "Create an account" in browser.get("/login").text
        token = form_token(browser, "/signup")
        mismatch = browser.post(
            "/signup",
            data={
                "email": "open@example.org",
                "password": PASSWORD,
                "password_confirm": PASSWORD + "x",
                "csrf_token": token,
            },
        )
        assert mismatch.status_code == 400
        assert "The two passwords are not the same" in mismatch.text
        made = browser.post(
            "/signup",
            data={
                "email": "open@example.org",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
                "csrf_token": token,
            },
        )
        assert made.status_code == 303
        assert browser.get("/account").status_code == 200
    with (
        _serve(embedded_with, tmp_path, PEGASUS_ACCOUNTS_SIGNUP="invite") as started,
        httpx.Client(base_url=started.base_url) as browser,
    ):
        needs = browser.get("/signup")
        assert needs.status_code == 403
        assert "by invitation" in needs.text
        assert browser.get("/signup?invite=inv_forged").status_code == 403


def test_an_idle_session_expires(embedded_with: dict[str, str], tmp_path: Path) -> None:
    # 0.00003 days is about 2.6 s
    with _serve(embedded_with, tmp_path, PEGASUS_ACCOUNTS_SESSION_DAYS="0.00003") as started:
        started.create_user("idle@example.org")
        with httpx.Client(base_url=started.base_url) as browser:
            assert log_in(browser, "idle@example.org").status_code == 303
            assert browser.get("/account").status_code == 200
            time.sleep(3.5)
            expired = browser.get("/account")
            assert expired.status_code == 303
            assert expired.headers["location"] == "/login?next=/account"
