"""The installable-app promises in real headless Chromium on both phone profiles: the
service worker is registered for the whole app, the manifest is complete and its icons load,
a navigation without a connection shows the offline page (and the shell's CSS still comes
from the cache), pages work again once back online, and the worker's caches never hold API
data or the learner's pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from pegasus.web.pages import STATIC_DIR
from pegasus_testkit.deployment import Api, Deployment
from tests.support.browser import sign_in

pytestmark = pytest.mark.slow

#: Paths the worker may keep: the app shell and the offline page, nothing of the learner's.
SHELL_PREFIXES = ("/static/",)
SHELL_PAGES = ("/offline",)


def cached_urls(page: Page) -> dict[str, list[str]]:
    """Every URL in every Cache Storage cache of the page's origin, by cache name."""
    found: dict[str, list[str]] = page.evaluate(
        """async () => {
            const out = {};
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                out[name] = (await cache.keys()).map((request) => request.url);
            }
            return out;
        }"""
    )
    return found


def wait_for_service_worker(page: Page) -> str:
    """Wait until the worker is active and controls the page; its registration's scope."""
    scope: str = page.evaluate(
        """() => Promise.race([
            navigator.serviceWorker.ready.then((registration) => registration.scope),
            new Promise((_, reject) => setTimeout(
                () => reject(new Error("no active service worker within 30 s")), 30000)),
        ])"""
    )
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    return scope


def test_installable_shell_offline_page_and_no_user_data_cached(
    phone: BrowserContext, embedded: Deployment, request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["phone"]
    email = f"offline-{name}@example.org"
    base = embedded.base_url
    api = Api(embedded, embedded.create_user(email))
    course_name = f"Private course of {name}"
    course = api.create_course(course_name)
    api.close()

    page = phone.new_page()
    sign_in(page, base, email)
    page.goto(f"{base}/courses")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your courses")
    expect(page.get_by_text(course_name)).to_be_visible()

    # Registered for the whole app, and in control of this page.
    assert wait_for_service_worker(page) == f"{base}/"
    script_url = page.evaluate("() => navigator.serviceWorker.controller.scriptURL")
    assert script_url == f"{base}/sw.js"

    # The manifest link resolves and is an installable web app manifest.
    manifest_href = page.get_attribute('link[rel="manifest"]', "href")
    assert manifest_href
    manifest: dict[str, Any] = page.evaluate(
        """async (href) => {
            const response = await fetch(href);
            return {status: response.status, body: await response.json()};
        }""",
        manifest_href,
    )
    assert manifest["status"] == 200
    body = manifest["body"]
    assert body["name"] == "Pegasus study kits"
    assert body["short_name"] == "Pegasus"
    assert body["start_url"] == "/courses"
    assert body["display"] == "standalone"
    sizes = {icon["sizes"] for icon in body["icons"] if "any" in icon.get("purpose", "any")}
    assert {"192x192", "512x512"} <= sizes
    for icon in body["icons"]:
        loaded: dict[str, int] = page.evaluate(
            """(src) => new Promise((resolve, reject) => {
                const image = new Image();
                image.onload = () => resolve({w: image.naturalWidth, h: image.naturalHeight});
                image.onerror = () => reject(new Error("icon did not load: " + src));
                image.src = src;
            })""",
            icon["src"],
        )
        width, height = (int(part) for part in icon["sizes"].split("x"))
        assert (loaded["w"], loaded["h"]) == (width, height), icon

    # Visit the learner's pages and call the API, all through the worker.
    for path in ("/courses", f"/courses/{course['id']}", "/account"):
        response = page.goto(f"{base}{path}")
        assert response is not None
        assert response.status == 200, path
    api_calls: list[dict[str, Any]] = page.evaluate(
        """async (paths) => Promise.all(paths.map(async (path) => {
            const response = await fetch(path, {credentials: "same-origin"});
            return {path, status: response.status, body: await response.json()};
        }))""",
        ["/api/v1/courses", f"/api/v1/courses/{course['id']}"],
    )
    assert [call["status"] for call in api_calls] == [200, 200], api_calls
    assert any(item["name"] == course_name for item in api_calls[0]["body"])
    assert api_calls[1]["body"]["name"] == course_name

    # The caches hold the shell only: no API answer, no page with the learner's data.
    caches = cached_urls(page)
    shell_caches = [cache for cache in caches if cache.startswith("pegasus-shell-")]
    assert len(shell_caches) == 1, caches
    paths = sorted({urlsplit(url).path for urls in caches.values() for url in urls})
    assert "/offline" in paths, paths
    assert "/static/css/app.css" in paths, paths
    assert [p for p in paths if "/api/" in p] == [], paths
    user_pages = [p for p in paths if p.startswith(("/courses", "/lectures", "/account"))]
    assert user_pages == [], paths
    stray = [p for p in paths if not (p.startswith(SHELL_PREFIXES) or p in SHELL_PAGES)]
    assert stray == [], paths
    for urls in caches.values():
        for url in urls:
            assert url.startswith(f"{base}/"), url  # nothing from another host

    # Offline: a navigation shows the offline page, never the browser's error or a copy of
    # the learner's page; the shell's stylesheet still comes from the cache.
    phone.set_offline(True)
    try:
        page.goto(f"{base}/courses")
        expect(page.get_by_role("heading", level=1)).to_have_text("You are offline")
        expect(page.get_by_text("Check your connection, then try again.")).to_be_visible()
        assert course_name not in page.content()
        assert page.evaluate(
            """() => [...document.styleSheets].some(
                (sheet) => sheet.href && sheet.href.endsWith("/static/css/app.css")
                    && sheet.cssRules.length > 0)"""
        ), "the offline page has no styles: app.css did not come from the cache"
        css: dict[str, Any] = page.evaluate(
            """async () => {
                const response = await fetch("/static/css/app.css");
                return {status: response.status, text: await response.text()};
            }"""
        )
        assert css["status"] == 200
        assert css["text"] == (STATIC_DIR / "css" / "app.css").read_text(encoding="utf-8")
        api_offline: str = page.evaluate(
            """async () => {
                try { await fetch("/api/v1/courses"); return "answered"; }
                catch (error) { return "failed"; }
            }"""
        )
        assert api_offline == "failed"  # no stale API data from a cache
    finally:
        phone.set_offline(False)

    # Back online: the same address is the learner's page again.
    response = page.goto(f"{base}/courses")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Your courses")
    expect(page.get_by_text(course_name)).to_be_visible()
