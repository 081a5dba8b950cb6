"""Benchmark: bytes each screen of the learner's flow transfers on a phone, before audio.

    python -m bench.page_weight

Starts the embedded default (bench.support), processes one spoken lecture, signs a learner in
through /login, then opens every screen of the flow in a fresh Chromium context (empty cache,
Pixel 7 profile), waits until the network is idle and adds up what came over the wire:
response headers and bodies as sent (compressed where the server compressed them), of every
request the page and its service worker made, audio and video excepted. Any request to
another host fails the run, as does a screen over ``--budget-kb`` (150). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Request, sync_playwright

from bench.support import PASSWORD, Server, embedded_server, speech, upload, wait_done

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
]


@dataclass
class Screen:
    name: str
    path: str
    bytes: int = 0
    requests: int = 0
    other_hosts: list[str] = field(default_factory=list)


def _signed_in_state(browser: Browser, server: Server) -> object:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.base_url}/login")
    page.get_by_label("Email address").fill(server.email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    state = context.storage_state()
    context.close()
    return state


def _measure(
    browser: Browser, device: dict[str, object], state: object, base: str, screen: Screen
) -> None:
    context = browser.new_context(**device, storage_state=state)  # type: ignore[arg-type]
    own_host = urlsplit(base).netloc

    def finished(request: Request) -> None:
        host = urlsplit(request.url).netloc
        if host and host != own_host:
            screen.other_hosts.append(request.url)
        if request.resource_type == "media":
            return
        sizes = request.sizes()
        screen.bytes += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        screen.requests += 1

    context.on("requestfinished", finished)
    context.on("requestfailed", lambda request: finished(request))
    page = context.new_page()
    page.goto(f"{base}{screen.path}", wait_until="networkidle")
    page.wait_for_timeout(500)  # the service worker's shell caching, if any
    context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget-kb", type=float, default=150.0)
    args = parser.parse_args()
    with embedded_server() as server, server.client() as http:
        course = http.post("/api/v1/courses", json={"name": "Biology 101"}).json()
        lecture = upload(http, course["id"], speech(server.root / "talk.wav", 3), "full-notes")
        wait_done(http, lecture)
        link = urlsplit(server.cli("users", "invite").splitlines()[0].strip())
        screens = [
            Screen("sign-up (invitation)", f"{link.path}?{link.query}"),
            Screen("log in", "/login"),
            Screen("courses", "/courses"),
            Screen("course", f"/courses/{course['id']}"),
            Screen("preset", f"/courses/{course['id']}/new"),
            Screen("upload or record", f"/courses/{course['id']}/new/quick-review"),
            Screen("process status", f"/lectures/{lecture}"),
            Screen("review and export", f"/lectures/{lecture}/review"),
            Screen("flashcards", f"/lectures/{lecture}/study"),
            Screen("quiz", f"/lectures/{lecture}/quiz"),
            Screen("search", "/search?q=energy"),
            Screen("account", "/account"),
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            device = dict(playwright.devices["Pixel 7"])
            device.pop("default_browser_type", None)
            state = _signed_in_state(browser, server)
            for screen in screens:
                signed_out = screen.name in ("log in", "sign-up (invitation)")
                _measure(browser, device, None if signed_out else state, server.base_url, screen)
            browser.close()
    over = [s.name for s in screens if s.bytes > args.budget_kb * 1024]
    elsewhere = [url for s in screens for url in s.other_hosts]
    result = {
        "budget_kb": args.budget_kb,
        "screens": {
            s.name: {"kb": round(s.bytes / 1024, 1), "requests": s.requests} for s in screens
        },
        "over_budget": over,
        "requests_to_other_hosts": elsewhere,
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 1 if over or elsewhere else 0


if __name__ == "__main__":
    raise SystemExit(main())
