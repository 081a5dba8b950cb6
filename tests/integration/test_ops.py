"""The ops view and the Alertmanager webhook, in-process against a real SQLite database."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pegasus.accounts.service import create_token
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    OpsSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.db.base import utcnow
from pegasus.db.models import Course
from pegasus.db.session import unit_of_work
from pegasus.observability.slo import DEFAULT_SLO_PATH
from pegasus.runtime import build_runtime
from tests.factories import make_course, make_lecture, make_stage_run, make_user

WEBHOOK_SECRET = "drill-webhook-secret"


@dataclass
class Ops:
    client: TestClient
    admin: dict[str, str]
    learner: dict[str, str]
    add_runs: Callable[[str, list[tuple[str, str | None]]], None]
    add_retried: Callable[[str], None]


@contextlib.contextmanager
def running_ops(tmp_path: Path, database_url: str, slo_file: Path | None = None) -> Iterator[Ops]:
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(database_url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
        ops=OpsSettings(alert_webhook_secret=SecretStr(WEBHOOK_SECRET), slo_file=slo_file),
    )
    runtime = build_runtime(settings)
    with unit_of_work(runtime.session_factory) as session:
        admin = make_user(session, "admin@example.org", admin=True)
        make_user(session, "learner@example.org")
        admin_token = create_token(session, "admin@example.org")
        learner_token = create_token(session, "learner@example.org")
        course_id = make_course(session, admin, "Ops course").id

    def add_runs(stage: str, outcomes: list[tuple[str, str | None]]) -> None:
        """One lecture per outcome, with a finished run of ``stage``."""
        now = utcnow()
        with unit_of_work(runtime.session_factory) as session:
            course = session.get(Course, course_id)
            for index, (status, code) in enumerate(outcomes):
                lecture = make_lecture(
                    session,
                    course,
                    title=f"{stage} {index}",
                    status="failed" if status == "failed" else "succeeded",
                    finished_at=now,
                )
                make_stage_run(
                    session,
                    lecture,
                    stage,
                    status=status,
                    error_code=code,
                    seconds=2 + index,
                    finished_at=now,
                )

    def add_retried(stage: str) -> None:
        """A lecture whose first attempt failed transiently and whose second succeeded."""
        now = utcnow()
        with unit_of_work(runtime.session_factory) as session:
            lecture = make_lecture(
                session,
                session.get(Course, course_id),
                title="retried",
                status="succeeded",
                finished_at=now,
            )
            make_stage_run(
                session,
                lecture,
                stage,
                status="failed",
                error_code="storage.unavailable",
                seconds=1,
                finished_at=now,
            )
            make_stage_run(session, lecture, stage, attempt=2, seconds=1, finished_at=now)

    with TestClient(create_app(settings, runtime)) as client:
        yield Ops(
            client=client,
            admin={"Authorization": f"Bearer {admin_token}"},
            learner={"Authorization": f"Bearer {learner_token}"},
            add_runs=add_runs,
            add_retried=add_retried,
        )


@pytest.fixture
def ops(tmp_path: Path, sqlite_url: str) -> Iterator[Ops]:
    with running_ops(tmp_path, sqlite_url) as running:
        yield running


def _alert(status: str, *, stage: str = "ingest", fingerprint: str = "abc123") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "PegasusStageFailing", "severity": "page", "stage": stage},
        "annotations": {
            "summary": f"Stage {stage} is failing",
            "runbook_url": "https://example.invalid/docs/runbooks/PegasusStageFailing.md",
        },
        "startsAt": "2026-11-28T10:00:00Z",
        "endsAt": "2026-11-28T10:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
        "generatorURL": "http://prometheus/graph",
    }


def _webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "status": alerts[0]["status"],
        "receiver": "pegasus-oncall",
        "alerts": list(alerts),
    }


def test_webhook_needs_the_shared_secret(ops: Ops) -> None:
    body = _webhook(_alert("firing"))
    missing = ops.client.post("/api/v1/ops/alerts", json=body)
    assert missing.status_code == 401
    wrong = ops.client.post(
        "/api/v1/ops/alerts", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "auth.required"
    summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()
    assert summary["incidents"] == []


def test_firing_then_resolved_is_one_incident(ops: Ops) -> None:
    auth = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    fired = ops.client.post("/api/v1/ops/alerts", json=_webhook(_alert("firing")), headers=auth)
    assert fired.status_code == 200, fired.text
    assert fired.json() == {"recorded": 1, "firing": 1, "resolved": 0}
    summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()
    assert summary["failing_stages"] == ["ingest"]
    (incident,) = summary["incidents"]
    assert incident["status"] == "firing"
    assert incident["ends_at"] is None
    assert incident["stage"] == "ingest"

    ops.client.post("/api/v1/ops/alerts", json=_webhook(_alert("resolved")), headers=auth)
    summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()
    (incident,) = summary["incidents"]
    assert incident["status"] == "resolved"
    assert incident["ends_at"].startswith("2026-11-28T10:30:00")
    assert summary["failing_stages"] == []


def test_malformed_webhook_is_422(ops: Ops) -> None:
    auth = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    response = ops.client.post("/api/v1/ops/alerts", json={"alerts": [{}]}, headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request.invalid"


def test_sustained_failures_mark_the_stage_failing(ops: Ops) -> None:
    ops.add_runs("ingest", [("succeeded", None)] * 2)
    ops.add_runs("generate", [("succeeded", None)] + [("failed", "generation.failed")] * 3)
    summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()
    stages = {s["stage"]: s for s in summary["stages"]}
    assert summary["failing_stages"] == ["generate"]
    assert stages["generate"]["state"] == "failing"
    assert stages["generate"]["failed"] == 3
    assert stages["generate"]["failure_ratio"] == pytest.approx(0.75)
    assert stages["generate"]["top_error_code"] == "generation.failed"
    assert stages["ingest"]["state"] == "ok"
    assert stages["transcribe"]["state"] == "idle"
    assert [f["error_code"] for f in summary["failed_lectures"]] == ["generation.failed"] * 3


def test_two_failures_are_not_yet_failing(ops: Ops) -> None:
    ops.add_runs("generate", [("failed", "generation.failed")] * 2)
    summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()
    assert summary["failing_stages"] == []
    assert {s["stage"]: s["state"] for s in summary["stages"]}["generate"] == "degraded"


def test_ops_page_marks_the_failing_stage(ops: Ops) -> None:
    ops.add_runs("transcribe", [("failed", "transcription.failed")] * 4)
    page = ops.client.get("/ops", headers=ops.admin)
    assert page.status_code == 200
    html = page.text
    assert "<title>FAILING: transcribe · Pegasus ops</title>" in html
    assert 'data-stage="transcribe" data-state="failing"' in html
    assert 'data-stage="ingest" data-state="idle"' in html
    assert "Failing stage: transcribe" in html


def test_ops_is_for_admins_only(ops: Ops) -> None:
    for path in ("/ops", "/api/v1/ops/summary"):
        assert ops.client.get(path).status_code == 401
        forbidden = ops.client.get(path, headers=ops.learner)
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "auth.forbidden"


def test_slo_budgets_follow_the_configured_slo_file(tmp_path: Path, sqlite_url: str) -> None:
    # An SLO file of this test's own, with targets nobody would ship, so the budgets below
    # can only come from reading it.
    declared = yaml.safe_load(DEFAULT_SLO_PATH.read_text(encoding="utf-8"))
    targets = {"ingest-success": 0.8, "generation-success": 0.9, "processing-time": 0.7}
    for slo in declared["slos"]:
        slo["target"] = targets[slo["name"]]
    slo_file = tmp_path / "slo.yaml"
    slo_file.write_text(yaml.safe_dump(declared, sort_keys=False), encoding="utf-8")

    with running_ops(tmp_path, sqlite_url, slo_file) as ops:
        ops.add_runs("ingest", [("succeeded", None)] * 9 + [("failed", "media.corrupt")])
        summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()

    slos = {s["name"]: s for s in summary["slos"]}
    assert {name: s["target"] for name, s in slos.items()} == targets
    ingest = slos["ingest-success"]
    assert ingest["events"] == 10
    assert ingest["sli"] == pytest.approx(0.9)
    # A tenth failed where a fifth may: half of the budget is spent.
    assert ingest["budget_remaining"] == pytest.approx(1 - (1 - 0.9) / (1 - 0.8))
    assert ingest["budget_remaining"] == pytest.approx(0.5)
    assert slos["generation-success"]["events"] == 0
    assert slos["generation-success"]["sli"] is None
    processing = slos["processing-time"]
    assert processing["events"] == 9  # the succeeded lectures, all instantly "processed"
    assert processing["budget_remaining"] == pytest.approx(1.0)


def test_a_retried_failure_is_not_an_outcome(ops: Ops) -> None:
    ops.add_retried("generate")
    summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()
    generate = {s["stage"]: s for s in summary["stages"]}["generate"]
    assert (generate["succeeded"], generate["failed"], generate["retried"]) == (1, 0, 1)
    assert generate["state"] == "ok"
    slo = {s["name"]: s for s in summary["slos"]}["generation-success"]
    assert (slo["events"], slo["sli"]) == (1, 1.0)


def test_webhook_needs_timezones_and_tolerates_odd_end_times(ops: Ops) -> None:
    auth = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    naive = _alert("firing")
    naive["startsAt"] = "2026-11-28T10:00:00"
    response = ops.client.post("/api/v1/ops/alerts", json=_webhook(naive), headers=auth)
    assert response.status_code == 422
    odd = _alert("resolved", fingerprint="odd")
    odd["endsAt"] = "0001-01-01T00:00:00+05:00"
    response = ops.client.post("/api/v1/ops/alerts", json=_webhook(odd), headers=auth)
    assert response.status_code == 200, response.text
    (incident,) = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()["incidents"]
    assert incident["ends_at"] is None


def test_only_http_runbook_links_reach_the_ops_page(ops: Ops) -> None:
    auth = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    runbooks = {
        "ScriptAlert": "javascript:alert(document.cookie)",
        "MixedCaseAlert": " JaVaScRiPt:alert(1)",
        "DataAlert": "data:text/html,<script>alert(1)</script>",
        "GoodAlert": "https://example.invalid/runbooks/good.md",
    }
    alerts = []
    for index, (name, url) in enumerate(runbooks.items()):
        alert = _alert("firing", fingerprint=f"fp{index}")
        alert["labels"]["alertname"] = name
        alert["annotations"]["runbook_url"] = url
        alerts.append(alert)
    recorded = ops.client.post("/api/v1/ops/alerts", json=_webhook(*alerts), headers=auth)
    assert recorded.status_code == 200, recorded.text

    page = ops.client.get("/ops", headers=ops.admin)

    assert page.status_code == 200
    html = page.text.lower()
    assert "javascript:" not in html
    assert "data:text/html" not in html
    for name in ("ScriptAlert", "MixedCaseAlert", "DataAlert"):
        assert f'data-alert="{name}"' in page.text
        assert f">{name}</a>" not in page.text  # shown as text, not as a link
    assert '<a href="https://example.invalid/runbooks/good.md"' in page.text
    summary = ops.client.get("/api/v1/ops/summary", headers=ops.admin).json()
    shown = {i["alertname"]: i["runbook_url"] for i in summary["incidents"]}
    assert shown == {
        "ScriptAlert": "",
        "MixedCaseAlert": "",
        "DataAlert": "",
        "GoodAlert": "https://example.invalid/runbooks/good.md",
    }
