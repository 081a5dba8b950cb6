"""Prometheus rules and the Alertmanager route, checked with the real promtool and amtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from pegasus.observability.slo import DEFAULT_SLO_PATH as SLO_FILE

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "ops/prometheus/rules").glob("*.yml"))
TEST_FILES = sorted((ROOT / "ops/prometheus/tests").glob("*.yml"))
RUNBOOKS = ROOT / "docs/runbooks"
ALERTMANAGER_CONFIG = ROOT / "ops/alertmanager/alertmanager.yml"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `apt-get install {package}`")
    return path


@pytest.fixture(scope="module")
def promtool() -> str:
    return _tool("promtool", "prometheus")


@pytest.fixture(scope="module")
def amtool() -> str:
    return _tool("amtool", "prometheus-alertmanager")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=240, check=False)


def _alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


def _alert_tests() -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
    """Firing expectations by alert name, and the alert names with a silent case."""
    firing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    silent: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                expected = check.get("exp_alerts") or []
                if expected:
                    firing[check["alertname"]].extend(expected)
                else:
                    silent.add(check["alertname"])
    return firing, silent


def test_both_rule_files_and_their_tests_exist() -> None:
    assert [p.name for p in RULE_FILES] == ["pegasus.rules.yml", "slo.rules.yml"]
    assert len(TEST_FILES) >= 2


def test_rule_files_pass_promtool_check(promtool: str) -> None:
    result = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_rule_unit_tests_pass(promtool: str, test_file: Path) -> None:
    result = _run(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    names = {rule["alert"] for rule in _alert_rules()}
    firing, silent = _alert_tests()

    assert names >= {
        "PegasusQueueBacklog",
        "PegasusStageFailing",
        "PegasusNoWorkers",
        "PegasusNotReady",
        "PegasusSLOBurnRateFast",
        "PegasusSLOBurnRateMedium",
        "PegasusSLOBurnRateSlow",
    }
    assert sorted(names - set(firing)) == [], "alerts without a firing test case"
    assert sorted(names - silent) == [], "alerts without a test case where they stay silent"
    assert sorted(set(firing) - names) == [], "test cases for alerts that do not exist"


def test_firing_expectations_check_labels_and_annotations() -> None:
    rules = {rule["alert"]: rule for rule in _alert_rules()}
    firing, _ = _alert_tests()
    for name, expectations in firing.items():
        per_stage = "by (stage)" in rules[name]["expr"]
        for expected in expectations:
            labels = expected.get("exp_labels", {})
            assert labels.get("severity") == rules[name]["labels"]["severity"], name
            if per_stage:
                assert "stage" in labels, f"{name} must name the stage"
            assert set(expected.get("exp_annotations", {})) == {
                "summary",
                "description",
                "runbook_url",
            }, name


def test_every_slo_alert_is_tested_for_every_slo() -> None:
    slo_alerts = {(r["alert"], r["labels"]["slo"]) for r in _alert_rules() if "slo" in r["labels"]}
    firing, _ = _alert_tests()
    tested = {
        (name, expected["exp_labels"]["slo"])
        for name, expectations in firing.items()
        for expected in expectations
        if "slo" in expected.get("exp_labels", {})
    }
    # Every burn-rate alert for every SLO declared in the committed SLO file (read as YAML).
    declared = [slo["name"] for slo in yaml.safe_load(SLO_FILE.read_text(encoding="utf-8"))["slos"]]
    assert len(declared) >= 3
    burn_rate_alerts = {f"PegasusSLOBurnRate{speed}" for speed in ("Fast", "Medium", "Slow")}
    assert slo_alerts == {(alert, slo) for alert in burn_rate_alerts for slo in declared}
    assert sorted(slo_alerts - tested) == []


def test_every_alert_is_labelled_and_names_an_existing_runbook() -> None:
    for rule in _alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), name
        assert annotations["description"].strip(), name
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.is_file(), f"missing runbook {runbook.relative_to(ROOT)}"
        # The link an on-call person clicks must open that file in the repository.
        url = urlparse(annotations["runbook_url"])
        assert (url.scheme, url.netloc) == ("https", "github.com"), annotations["runbook_url"]
        _owner, _repo, blob, _branch, *path = url.path.strip("/").split("/")
        assert blob == "blob"
        assert ROOT.joinpath(*path) == runbook, annotations["runbook_url"]
        text = runbook.read_text(encoding="utf-8")
        assert text.startswith(f"# {name}\n")
        for section in ("## What it means", "## Look first", "## Verify it is resolved"):
            assert section in text, f"{runbook.name} lacks {section!r}"


def test_every_runbook_belongs_to_an_alert_and_its_links_resolve() -> None:
    names = {rule["alert"] for rule in _alert_rules()}
    for runbook in RUNBOOKS.glob("*.md"):
        assert runbook.stem in names, f"{runbook.name} documents no alert"
        for target in re.findall(r"\]\(([^)#]+\.md)\)", runbook.read_text(encoding="utf-8")):
            assert (runbook.parent / target).is_file(), f"{runbook.name} links to {target}"


def test_alertmanager_config_is_valid(amtool: str) -> None:
    result = _run(amtool, "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=PegasusStageFailing", "severity=page", "stage=ingest"], "oncall,pager"),
        (["alertname=PegasusSLOBurnRateSlow", "severity=ticket", "slo=ingest-success"], "oncall"),
        (
            ["alertname=PegasusSLOBurnRateFast", "severity=page", "slo=processing-time"],
            "oncall,pager",
        ),
    ],
)
def test_alertmanager_routes_pegasus_alerts_to_oncall(
    amtool: str, labels: list[str], receivers: str
) -> None:
    result = _run(
        amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = ",".join(f"pegasus-{r}" for r in receivers.split(","))
    assert result.stdout.strip() == expected


def test_alertmanager_webhook_posts_to_pegasus_with_a_bearer_secret() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    route = config["route"]
    assert route["group_by"] == ["alertname", "stage", "slo"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )
    oncall = next(r for r in config["receivers"] if r["name"] == "pegasus-oncall")
    (webhook,) = oncall["webhook_configs"]
    assert webhook["url"] == "http://127.0.0.1:8000/api/v1/ops/alerts"
    assert webhook["send_resolved"] is True
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/pegasus/alert-webhook-secret",
    }
