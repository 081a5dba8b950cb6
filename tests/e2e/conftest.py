"""Browser fixtures for the web app: Chromium, a phone per device profile, a server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from pegasus_testkit.deployment import Deployment, embedded_deployment
from tests.support.browser import PHONES, launch_chromium, phone_profile


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, started once for the browser tests (tests/e2e)."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once for the browser tests; each test gets its own
    context (``phone``), so no cookies or storage pass from one test to the next."""
    try:
        launched = launch_chromium(playwright)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield launched
    launched.close()


@pytest.fixture(params=sorted(PHONES), ids=sorted(PHONES))
def phone(
    request: pytest.FixtureRequest, browser: Browser, playwright: Playwright
) -> Iterator[BrowserContext]:
    """A fresh browser context with a phone's profile (android: Pixel 7, iphone: iPhone 14)
    and the microphone allowed. ``request.param`` / the test id says which phone."""
    context = browser.new_context(**phone_profile(playwright, request.param))
    context.grant_permissions(["microphone"])
    yield context
    context.close()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`pegasus serve` on the embedded column (SQLite, local files), shared by one module."""
    with embedded_deployment(tmp_path_factory.mktemp("embedded")) as running:
        yield running
