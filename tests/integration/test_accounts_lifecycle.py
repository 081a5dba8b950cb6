"""Account lifecycle over real HTTP on both columns: API tokens listed, expiring and revoked
(API, account page, CLI); users disabled and enabled by an admin (API, users page, CLI), with
the effect on the very next request; sessions listed and ended one by one or everywhere; a
password change ending the other sessions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from pegasus.accounts.service import create_token
from pegasus.config import DatabaseSettings
from pegasus.db.base import utcnow
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus_testkit.deployment import PASSWORD, Deployment

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile"
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def browser(deployment: Deployment, user_agent: str = LAPTOP) -> httpx.Client:
    return httpx.Client(base_url=deployment.base_url, headers={"User-Agent": user_agent})


def log_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    token = client.cookies.get("pegasus_csrf")
    if token is None:
        page = client.get("/login")
        found = CSRF_FIELD.search(page.text)
        assert found, page.text
        token = found.group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def session_csrf(client: httpx.Client) -> str:
    page = client.get("/account")
    assert page.status_code == 200, page.text
    found = CSRF_META.search(page.text)
    assert found
    return found.group(1)


@pytest.fixture(scope="module")
def admin(deployment: Deployment) -> str:
    return deployment.create_user("lifecycle-admin@example.org", admin=True)


@pytest.fixture
def database(deployment: Deployment) -> Iterator[sessionmaker[Session]]:
    """Sessions on the deployment's own database."""
    engine = build_engine(DatabaseSettings(url=SecretStr(deployment.env["PEGASUS_DATABASE_URL"])))
    try:
        yield build_session_factory(engine)
    finally:
        engine.dispose()


def _user_id(deployment: Deployment, admin: str, email: str) -> str:
    users = httpx.get(f"{deployment.base_url}/api/v1/users", headers=bearer(admin))
    assert users.status_code == 200, users.text
    found: str = next(u["id"] for u in users.json() if u["email"] == email)
    return found


# --- tokens -------------------------------------------------------------------------------


def test_a_revoked_token_gets_401_on_its_next_request(deployment: Deployment) -> None:
    first = deployment.create_user("revoker@example.org")
    with httpx.Client(base_url=deployment.base_url) as api:
        made = api.post(
            "/api/v1/tokens",
            json={"name": "phone script", "expires_in_days": 30},
            headers=bearer(first),
        )
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"
        second = made.json()["token"]
        assert second.startswith("pgs_")
        assert api.get("/api/v1/courses", headers=bearer(second)).status_code == 200
        listed = api.get("/api/v1/tokens", headers=bearer(first))
        assert listed.status_code == 200
        by_name = {t["name"]: t for t in listed.json()}
        assert set(by_name) == {"phone script", "cli"}
        shown = by_name["phone script"]
        assert "token" not in shown  # the secret is never listed
        assert shown["prefix"] == second[:10]
        assert shown["created_at"]
        assert shown["last_used_at"]  # used once above
        assert shown["expires_at"].startswith(str((utcnow() + timedelta(days=30)).date()))
        assert by_name["cli"]["expires_at"] is None

        revoked = api.delete(f"/api/v1/tokens/{shown['id']}", headers=bearer(first))
        assert revoked.status_code == 204
        refused = api.get("/api/v1/courses", headers=bearer(second))
        assert refused.status_code == 401
        assert error_code(refused) == "auth.token_revoked"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert [t["name"] for t in api.get("/api/v1/tokens", headers=bearer(first)).json()] == [
            "cli"
        ]
        again = api.delete(f"/api/v1/tokens/{shown['id']}", headers=bearer(first))
        assert again.status_code == 404
        assert api.get("/api/v1/courses", headers=bearer(first)).status_code == 200


def test_nobody_revokes_another_users_token(deployment: Deployment) -> None:
    owner = deployment.create_user("token-owner@example.org")
    other = deployment.create_user("token-other@example.org")
    with httpx.Client(base_url=deployment.base_url) as api:
        theirs = api.get("/api/v1/tokens", headers=bearer(owner)).json()[0]["id"]
        assert api.delete(f"/api/v1/tokens/{theirs}", headers=bearer(other)).status_code == 404
        assert api.get("/api/v1/courses", headers=bearer(owner)).status_code == 200
        assert all(
            t["id"] != theirs for t in api.get("/api/v1/tokens", headers=bearer(other)).json()
        )


def test_cli_lists_and_revokes_tokens(deployment: Deployment) -> None:
    token = deployment.create_user("cli-tokens@example.org")
    listed = json.loads(
        deployment.cli("tokens", "list", "--email", "cli-tokens@example.org", "--json")
    )
    assert [(t["user"], t["name"], t["prefix"]) for t in listed] == [
        ("cli-tokens@example.org", "cli", token[:10])
    ]
    assert listed[0]["revoked_at"] is None
    assert "pgs_" not in json.dumps(listed).replace(token[:10], "")  # never the secret
    assert (
        httpx.get(f"{deployment.base_url}/api/v1/courses", headers=bearer(token)).status_code == 200
    )
    out = deployment.cli("tokens", "revoke", token[:10])
    assert out.strip() == f"revoked {token[:10]}… (cli) of cli-tokens@example.org"
    refused = httpx.get(f"{deployment.base_url}/api/v1/courses", headers=bearer(token))
    assert refused.status_code == 401
    assert error_code(refused) == "auth.token_revoked"
    assert (
        json.loads(deployment.cli("tokens", "list", "--email", "cli-tokens@example.org", "--json"))
        == []
    )
    revoked = json.loads(
        deployment.cli("tokens", "list", "--email", "cli-tokens@example.org", "--all", "--json")
    )
    assert revoked[0]["revoked_at"] is not None


def test_an_expired_token_gets_401(deployment: Deployment, database: sessionmaker[Session]) -> None:
    deployment.create_user("expiring@example.org")
    long_ago = utcnow() - timedelta(days=3)
    with unit_of_work(database) as session:
        expired = create_token(
            session, "expiring@example.org", name="old", expires_in_days=1, now=long_ago
        )
        current = create_token(session, "expiring@example.org", name="new", expires_in_days=1)
    with httpx.Client(base_url=deployment.base_url) as api:
        refused = api.get("/api/v1/courses", headers=bearer(expired))
        assert refused.status_code == 401
        assert error_code(refused) == "auth.token_expired"
        assert api.get("/api/v1/courses", headers=bearer(current)).status_code == 200
        listed = {t["name"]: t for t in api.get("/api/v1/tokens", headers=bearer(current)).json()}
        assert listed["old"]["expires_at"] < listed["new"]["expires_at"]


def test_the_account_page_lists_creates_and_revokes_tokens(deployment: Deployment) -> None:
    deployment.create_user("page-tokens@example.org")
    with browser(deployment) as web:
        assert log_in(web, "page-tokens@example.org").status_code == 303
        csrf = session_csrf(web)
        made = web.post(
            "/account/tokens",
            data={"token_name": "backup script", "token_expires_days": "7", "csrf_token": csrf},
        )
        assert made.status_code == 201, made.text
        secret = re.search(r'class="secret">(pgs_[^<]+)<', made.text)
        assert secret
        assert "expires " + (utcnow() + timedelta(days=7)).strftime("%-d %b %Y") in made.text
        assert "never used" in made.text
        page = web.get("/account")
        assert secret.group(1) not in page.text  # shown once
        assert api_ok(deployment, secret.group(1))
        page = web.get("/account")
        assert "last used" in page.text
        link = re.search(r'href="(/account/tokens/[^"]+/revoke)"', page.text)
        assert link
        confirm = web.get(link.group(1))
        assert confirm.status_code == 200
        assert "Revoke the token “backup script”?" in confirm.text
        assert not api_ok(deployment, "pgs_unknown")
        assert api_ok(deployment, secret.group(1))  # asking changed nothing
        done = web.post(link.group(1), data={"csrf_token": csrf})
        assert done.status_code == 200
        assert "The token was revoked." in done.text
        assert not api_ok(deployment, secret.group(1))
        bad = web.post(
            "/account/tokens",
            data={"token_name": "x", "token_expires_days": "9", "csrf_token": csrf},
        )
        assert bad.status_code == 400


def api_ok(deployment: Deployment, token: str) -> bool:
    response = httpx.get(f"{deployment.base_url}/api/v1/courses", headers=bearer(token))
    return response.status_code == 200


# --- users --------------------------------------------------------------------------------


def test_a_disabled_users_session_and_token_get_401_at_once(
    deployment: Deployment, admin: str
) -> None:
    token = deployment.create_user("to-disable@example.org")
    with browser(deployment, PHONE) as phone, httpx.Client(base_url=deployment.base_url) as api:
        assert log_in(phone, "to-disable@example.org").status_code == 303
        assert phone.get("/api/v1/courses").status_code == 200
        assert phone.get("/account").status_code == 200
        user_id = _user_id(deployment, admin, "to-disable@example.org")

        disabled = api.post(f"/api/v1/users/{user_id}/disable", headers=bearer(admin))
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["disabled_at"] is not None

        # the very next request of each: the cookie session and the token
        assert phone.get("/api/v1/courses").status_code == 401
        assert phone.get("/account").headers["location"] == "/login?next=/account"
        refused = api.get("/api/v1/courses", headers=bearer(token))
        assert refused.status_code == 401
        assert error_code(refused) == "auth.account_disabled"
        # sign-in refused with a clear message (after the right password only)
        again = log_in(phone, "to-disable@example.org")
        assert again.status_code == 403
        assert "Your account is disabled" in again.text
        assert "pegasus_session" not in again.headers.get("set-cookie", "")
        assert log_in(phone, "to-disable@example.org", "a wrong password").status_code == 401

        enabled = api.post(f"/api/v1/users/{user_id}/enable", headers=bearer(admin))
        assert enabled.json()["disabled_at"] is None
        assert api.get("/api/v1/courses", headers=bearer(token)).status_code == 200
        assert phone.get("/account").status_code == 303  # its session ended for good
        assert log_in(phone, "to-disable@example.org").status_code == 303
        assert phone.get("/account").status_code == 200


def test_only_admins_manage_users_and_never_themselves_or_the_last_admin(
    deployment: Deployment, admin: str
) -> None:
    learner = deployment.create_user("not-an-admin@example.org")
    with httpx.Client(base_url=deployment.base_url) as api:
        assert api.get("/api/v1/users", headers=bearer(learner)).status_code == 403
        own_id = _user_id(deployment, admin, "lifecycle-admin@example.org")
        learner_id = _user_id(deployment, admin, "not-an-admin@example.org")
        forbidden = api.post(f"/api/v1/users/{own_id}/disable", headers=bearer(learner))
        assert forbidden.status_code == 403
        self_disable = api.post(f"/api/v1/users/{own_id}/disable", headers=bearer(admin))
        assert self_disable.status_code == 409
        assert "your own account" in self_disable.json()["error"]["message"]
        missing = api.post("/api/v1/users/no-such-user/disable", headers=bearer(admin))
        assert missing.status_code == 404
        assert api.get("/api/v1/courses", headers=bearer(admin)).status_code == 200
        assert api.get("/api/v1/courses", headers=bearer(learner)).status_code == 200
        assert learner_id != own_id


def test_cli_lists_disables_and_enables_users(deployment: Deployment) -> None:
    token = deployment.create_user("cli-disable@example.org")
    listed = json.loads(deployment.cli("users", "list", "--json"))
    row = next(u for u in listed if u["email"] == "cli-disable@example.org")
    assert (row["is_admin"], row["disabled_at"]) == (False, None)
    assert deployment.cli("users", "disable", "cli-disable@example.org").strip() == (
        "cli-disable@example.org is disabled"
    )
    refused = httpx.get(f"{deployment.base_url}/api/v1/courses", headers=bearer(token))
    assert refused.status_code == 401
    assert error_code(refused) == "auth.account_disabled"
    listed = json.loads(deployment.cli("users", "list", "--json"))
    assert next(u for u in listed if u["email"] == "cli-disable@example.org")["disabled_at"]
    assert "is enabled" in deployment.cli("users", "enable", row["id"])
    assert api_ok(deployment, token)


def test_the_users_page_disables_after_a_confirmation_and_enables(
    deployment: Deployment, admin: str
) -> None:
    target = deployment.create_user("page-disable@example.org")
    deployment.create_user("page-admin@example.org", admin=True)
    with browser(deployment) as web, browser(deployment, PHONE) as learner:
        assert log_in(learner, "page-disable@example.org").status_code == 303
        assert log_in(web, "page-admin@example.org").status_code == 303
        csrf = session_csrf(web)
        page = web.get("/account/users")
        assert page.status_code == 200
        assert "page-disable@example.org" in page.text
        link = re.search(
            r'href="(/account/users/[^"]+/disable)">Disable<span[^>]*> page-disable@', page.text
        )
        assert link, page.text
        confirm = web.get(link.group(1))
        assert "Disable page-disable@example.org?" in confirm.text
        assert api_ok(deployment, target)  # asking changed nothing
        done = web.post(link.group(1), data={"csrf_token": csrf})
        assert done.status_code == 200
        assert "page-disable@example.org is disabled." in done.text
        assert not api_ok(deployment, target)
        assert learner.get("/api/v1/courses").status_code == 401
        enable = re.search(r'action="(/account/users/[^"]+/enable)"', done.text)
        assert enable
        assert web.post(enable.group(1), data={"csrf_token": csrf}).status_code == 200
        assert api_ok(deployment, target)
        # a learner cannot open the page
        assert log_in(learner, "page-disable@example.org").status_code == 303
        assert learner.get("/account/users").status_code == 403


# --- sessions -----------------------------------------------------------------------------

SESSION_ROW = re.compile(r'<li class="row row--between" data-testid="session">(.*?)</li>', re.S)


def session_rows(page: str) -> list[tuple[str, str | None]]:
    """(device, the action that ends it) of each session the account page lists."""
    rows = []
    for block in SESSION_ROW.findall(page):
        device = re.search(r"<strong[^>]*>([^<]+)</strong>", block)
        action = re.search(r'action="(/account/sessions/[0-9a-f]+/end)"', block)
        assert device
        rows.append((device.group(1), action.group(1) if action else None))
    return rows


def test_sessions_are_listed_and_ended_one_by_one_or_everywhere(deployment: Deployment) -> None:
    deployment.create_user("many-devices@example.org")
    with (
        browser(deployment, LAPTOP) as laptop,
        browser(deployment, PHONE) as phone,
        browser(deployment, "curl/8.5.0") as script,
    ):
        for client in (laptop, phone, script):
            assert log_in(client, "many-devices@example.org").status_code == 303
        page = laptop.get("/account")
        rows = session_rows(page.text)
        # this device first, then the most recently seen
        assert [device for device, _ in rows] == ["Firefox on Linux", "curl", "Chrome on Android"]
        assert rows[0][1] is None  # this device is signed out with the buttons below
        assert page.text.count(">this device<") == 1
        times = re.findall(
            r'class="muted small">signed in ([^<]+) UTC, last seen ([^<]+) UTC<', page.text
        )
        assert len(times) == 3
        today = utcnow().strftime("%-d %b %Y")
        assert all(signed.startswith(today) and seen.startswith(today) for signed, seen in times)
        csrf = session_csrf(laptop)
        phone_end = rows[2][1]
        assert phone_end
        assert laptop.post(phone_end, data={"csrf_token": csrf}).status_code == 200
        assert phone.get("/api/v1/courses").status_code == 401
        assert script.get("/api/v1/courses").status_code == 200
        # sign out of all other devices
        others = laptop.post("/account/sessions/end-others", data={"csrf_token": csrf})
        assert "Signed out on 1 other device." in others.text
        assert script.get("/api/v1/courses").status_code == 401
        assert laptop.get("/api/v1/courses").status_code == 200
        # sign out everywhere, this device too
        assert log_in(phone, "many-devices@example.org").status_code == 303
        everywhere = laptop.post("/account/sessions/end-all", data={"csrf_token": csrf})
        assert everywhere.status_code == 303
        assert everywhere.headers["location"] == "/login?signed_out=1"
        assert laptop.get("/api/v1/courses").status_code == 401
        assert phone.get("/api/v1/courses").status_code == 401


def test_the_session_id_rotates_at_sign_in(deployment: Deployment) -> None:
    deployment.create_user("rotating@example.org")
    deployment.create_user("rotating-other@example.org")
    with browser(deployment) as web:
        assert log_in(web, "rotating-other@example.org").status_code == 303
        before = web.cookies["pegasus_session"]
        assert log_in(web, "rotating@example.org").status_code == 303
        after = web.cookies["pegasus_session"]
        assert after != before
        assert "rotating@example.org" in web.get("/account").text
        page = web.get("/account")
        assert page.text.count('data-testid="session"') == 1
    with httpx.Client(base_url=deployment.base_url, cookies={"pegasus_session": before}) as old:
        assert old.get("/api/v1/courses").status_code == 401  # the pre-sign-in one is gone


def test_a_password_change_ends_the_other_sessions(deployment: Deployment) -> None:
    deployment.create_user("changer@example.org")
    new_password = "a brand new passphrase"
    with browser(deployment, LAPTOP) as laptop, browser(deployment, PHONE) as phone:
        assert log_in(laptop, "changer@example.org").status_code == 303
        assert log_in(phone, "changer@example.org").status_code == 303
        changed = laptop.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": new_password,
                "new_password_confirm": new_password,
                "csrf_token": session_csrf(laptop),
            },
        )
        assert changed.status_code == 200, changed.text
        assert "You were signed out on 1 other device." in changed.text
        assert phone.get("/api/v1/courses").status_code == 401
        assert laptop.get("/api/v1/courses").status_code == 200
        assert log_in(phone, "changer@example.org").status_code == 401
        assert log_in(phone, "changer@example.org", new_password).status_code == 303


def test_a_real_server_sends_the_security_headers(deployment: Deployment) -> None:
    """The same headers over a real socket (test_security_headers.py walks every route)."""
    with httpx.Client(base_url=deployment.base_url) as client:
        for path in ("/login", "/api/v1/courses", "/static/css/app.css", "/docs", "/healthz"):
            response = client.get(path)
            assert response.status_code in {200, 401}, path
            policy = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy, path
            assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] == "same-origin", path
