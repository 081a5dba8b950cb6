"""/ops in real headless Chromium marks the failing stage while failures are injected.

Failures are injected the way users cause them: recordings that cannot be decoded, so the
ingest stage fails for good again and again. The screenshot is committed as evidence
(docs/evidence/ops-failing-stage.png) when PEGASUS_WRITE_EVIDENCE=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from pegasus_testkit.deployment import Api, Deployment, embedded_deployment
from pegasus_testkit.lectures import Recordings

pytestmark = pytest.mark.slow

EVIDENCE = Path(__file__).resolve().parents[2] / "docs" / "evidence" / "ops-failing-stage.png"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with embedded_deployment(tmp_path) as running:
        yield running


def test_ops_page_marks_the_failing_stage(
    browser: Browser, deployment: Deployment, recordings: Recordings, tmp_path: Path
) -> None:
    token = deployment.create_user("oncall@example.org", admin=True)
    api = Api(deployment, token)
    course = api.create_course("Drill")
    good = api.upload(course["id"], recordings.lecture_wav, content_type="audio/wav")
    assert good.status_code == 202
    assert api.wait_for(good.json()["id"])["status"] == "succeeded"
    for _ in range(4):  # injected failures: undecodable uploads
        bad = api.upload(course["id"], recordings.truncated_m4a, content_type="audio/mp4")
        assert api.wait_for(bad.json()["id"])["status"] == "failed"
    api.close()

    context = browser.new_context(
        viewport={"width": 414, "height": 1100},  # a phone held upright
        extra_http_headers={"Authorization": f"Bearer {token}"},
    )
    page = context.new_page()
    response = page.goto(f"{deployment.base_url}/ops")
    assert response is not None
    assert response.status == 200
    assert page.title().startswith("FAILING: ingest")
    banner = page.get_by_test_id("banner")
    assert banner.inner_text().strip() == "Failing stage: ingest"
    ingest = page.locator('[data-stage="ingest"]')
    assert ingest.get_attribute("data-state") == "failing"
    assert "media.corrupt" in ingest.inner_text()
    # Visibly red, not just a class name: the computed border colour of the card.
    border = ingest.evaluate("el => getComputedStyle(el).borderTopColor")
    assert border == "rgb(207, 34, 46)"
    for healthy in ("transcribe", "generate", "export"):
        assert page.locator(f'[data-stage="{healthy}"]').get_attribute("data-state") == "ok"
    shot = tmp_path / "ops.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("PEGASUS_WRITE_EVIDENCE") == "1":
        EVIDENCE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, EVIDENCE)
    context.close()
