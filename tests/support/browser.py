"""Playwright (sync API) on Debian's Chromium for the web app's tests.

- ``launch_chromium(playwright)``: ``/usr/bin/chromium`` headless with the suite's flags and a
  fake microphone (``--use-fake-device-for-media-stream`` is added by the caller that feeds a
  file; ``--use-fake-ui-for-media-stream`` accepts the permission prompt).
- ``PHONES`` names the two device profiles; ``phone_profile(playwright, name)`` gives the
  context options (viewport, user agent, touch, device scale), never Playwright's WebKit choice.
- ``sign_in(page, base_url, email, password)`` signs a page in through /login.
- ``assert_accessible(page)`` runs the pinned, vendored axe-core and fails on any serious or
  critical violation, listing them.
- ``assert_no_horizontal_scroll(page)``: nothing sticks out sideways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, ViewportSize

# The password of the accounts tests make (``Deployment.create_user``); ``sign_in`` uses it.
from pegasus_testkit.deployment import PASSWORD as PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
]

#: Device profile per phone, by Playwright's device name.
PHONES: dict[str, str] = {"android": "Pixel 7", "iphone": "iPhone 14"}

#: The narrowest phone the web app supports (CSS px).
NARROW_VIEWPORT: ViewportSize = {"width": 360, "height": 740}

AXE_VERSION = "4.14.1"
AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")


def launch_chromium(playwright: Playwright, extra_args: list[str] | None = None) -> Browser:
    """Debian's Chromium, headless (never a browser downloaded by ``playwright install``)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Chromium is missing: apt-get install chromium (make system-deps)")
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *(extra_args or [])]
    )


def phone_profile(playwright: Playwright, name: str) -> dict[str, Any]:
    """Context options of the phone ``name`` (a key of ``PHONES``), for Chromium."""
    profile = dict(playwright.devices[PHONES[name]])
    profile.pop("default_browser_type", None)
    return profile


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign ``page`` in through the log-in form; fails unless it lands signed in."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert not page.url.startswith(f"{base_url}/login"), f"still on the log-in page: {page.url}"


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every axe-core violation on ``page`` as axe reports it."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluate, not a <script> tag: the Content-Security-Policy blocks inline scripts
        page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "async () => await window.axe.run(document, {resultTypes: ['violations']})"
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on ``page`` (each one listed on failure)."""
    bad = [v for v in axe_violations(page) if v.get("impact") in FAILING_IMPACTS]
    if bad:
        lines = []
        for violation in bad:
            targets = [", ".join(node["target"]) for node in violation["nodes"][:5]]
            lines.append(
                f"- [{violation['impact']}] {violation['id']}: {violation['help']} "
                f"({len(violation['nodes'])} nodes: {'; '.join(targets)})"
            )
        raise AssertionError(f"axe-core violations on {page.url}:\n" + "\n".join(lines))


def assert_no_horizontal_scroll(page: Page) -> None:
    """The page is no wider than the viewport (no sideways scrolling on a phone)."""
    widths: dict[str, int] = page.evaluate(
        "() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], (
        f"{page.url} scrolls sideways: content {widths['scroll']} px wide in a "
        f"{widths['inner']} px viewport"
    )
