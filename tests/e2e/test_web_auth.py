"""Accounts in real headless Chromium on both phone profiles: an invitation link from
`pegasus users invite` -> sign up -> signed in -> sign out -> sign in -> a wrong password
shows the error summary; CSRF from the page; cookie attributes; axe-core; 360 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from pegasus_testkit.cli import run_cli
from pegasus_testkit.deployment import Deployment
from tests.support.browser import (
    NARROW_VIEWPORT,
    PASSWORD,
    assert_accessible,
    assert_no_horizontal_scroll,
    sign_in,
)

pytestmark = pytest.mark.slow

SCREENSHOTS = Path("/tmp/pegasus-web-auth")


def invite_link(deployment: Deployment, *flags: str) -> str:
    env = {**deployment.env, "PEGASUS_SERVER_PUBLIC_URL": deployment.base_url}
    return run_cli(env, "users", "invite", *flags).strip()


def fill_signup(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Choose a password").fill(password)
    page.get_by_label("Type the password again").fill(password)


def test_invitation_to_sign_out_and_back_in(
    phone: BrowserContext, embedded: Deployment, request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["phone"]
    email = f"learner-{name}@example.org"
    link = invite_link(embedded)
    page = phone.new_page()

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    fill_signup(page, email)
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()
    assert page.url == f"{embedded.base_url}/courses"

    cookies = {c["name"]: c for c in phone.cookies()}
    session = cookies["pegasus_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert page.evaluate("() => document.cookie").find("pegasus_session") == -1

    page.goto(f"{embedded.base_url}/account")
    expect(page.get_by_test_id("account-email")).to_have_text(email)
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Courses", "Search", "Account"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    assert_accessible(page)
    assert_no_horizontal_scroll(page)

    with page.expect_navigation():
        page.get_by_test_id("sign-out").click()
    assert page.url == f"{embedded.base_url}/login?signed_out=1"
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{embedded.base_url}/account")
    assert page.url == f"{embedded.base_url}/login?next=/account"

    sign_in(page, embedded.base_url, email)
    assert page.url == f"{embedded.base_url}/courses"
    page.goto(f"{embedded.base_url}/account")
    with page.expect_navigation():  # the header's sign-out button this time
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()

    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill("not my password")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("The email address or the password is not right")
    expect(summary.get_by_role("link")).to_have_attribute("href", "#email")
    assert page.title().startswith("Error: Sign in")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


def test_page_requests_need_the_csrf_token(
    phone: BrowserContext, embedded: Deployment, request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["phone"]
    email = f"csrf-{name}@example.org"
    page = phone.new_page()
    page.goto(invite_link(embedded))
    fill_signup(page, email)
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()
    page.goto(f"{embedded.base_url}/account")

    without = page.evaluate(
        """async () => {
            const r = await fetch('/api/v1/courses', {method: 'POST', credentials: 'same-origin',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: 'X'})});
            return {status: r.status, body: await r.json()};
        }"""
    )
    assert without["status"] == 403
    assert without["body"]["error"]["code"] == "auth.csrf"

    made = page.evaluate(
        """async () => {
            const {apiFetch, ApiError} = await import('/static/js/api.js');
            const course = await apiFetch('/api/v1/courses', {method: 'POST', json: {name: 'Bio'}});
            let notFound = null;
            try { await apiFetch('/api/v1/courses/nope'); }
            catch (e) { notFound = {isApiError: e instanceof ApiError, status: e.status,
                                    code: e.code, message: e.message}; }
            return {course, notFound};
        }"""
    )
    assert made["course"]["name"] == "Bio"
    assert made["notFound"]["isApiError"] is True
    assert made["notFound"]["status"] == 404
    assert made["notFound"]["code"] == "not_found"
    assert made["notFound"]["message"]


def test_narrow_phone_screens(browser: Browser, embedded: Deployment) -> None:
    """360 x 740, the narrowest supported phone: no sideways scrolling; screenshots saved."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport=NARROW_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    embedded.create_user("narrow-admin@example.org", admin=True)
    page.goto(invite_link(embedded))
    assert_no_horizontal_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / "signup-360.png"), full_page=True)
    page.goto(f"{embedded.base_url}/login")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector('[data-testid="error-summary"]')
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / "login-errors-360.png"), full_page=True)
    sign_in(page, embedded.base_url, "narrow-admin@example.org")
    page.goto(f"{embedded.base_url}/account")
    page.get_by_label("Name of a new token").fill("a rather long token name for a laptop script")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_selector('[data-testid="new-token"]')
    page.get_by_role("button", name="Create invitation link").click()
    page.wait_for_selector('[data-testid="new-invitation"]')
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / "account-admin-360.png"), full_page=True)
    for scheme in ("dark",):
        page.emulate_media(color_scheme=scheme)
        assert_accessible(page)
        page.screenshot(path=str(SCREENSHOTS / f"account-admin-360-{scheme}.png"), full_page=True)
    page.goto(f"{embedded.base_url}/offline")
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    context.close()
