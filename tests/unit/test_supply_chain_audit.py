"""scripts/audit.py, the `make audit` gate: it passes only when every locked package was
checked, and tells "vulnerable" (1) from "could not be checked" (3)."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scripts import audit as gate

LOCK_TEXT = "Jinja2==3.1.2\nidna==3.10\nsix==1.16.0\n"
GOOD_PYPI = json.dumps({"info": {}, "vulnerabilities": [{"id": "PYSEC-2021-437"}]}).encode()


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.lock"
    path.write_text(LOCK_TEXT, encoding="utf-8")
    return path


def reachable(url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    return 200, GOOD_PYPI


def unreachable(url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    raise urllib.error.URLError("[Errno -2] Name or service not known")


def not_found(url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]


def runner_of(report: dict[str, Any] | None, error: str = "") -> gate.Runner:
    calls: list[Path] = []

    def run(
        lock: Path, service: str, timeout: float, ignore: Sequence[str]
    ) -> tuple[dict[str, Any] | None, str]:
        calls.append(lock)
        return report, error

    return run


def must_not_run(
    lock: Path, service: str, timeout: float, ignore: Sequence[str]
) -> tuple[dict[str, Any] | None, str]:
    raise AssertionError("pip-audit ran although the advisory service is unreachable")


def clean(name: str, version: str) -> dict[str, Any]:
    return {"name": name, "version": version, "vulns": []}


def skipped(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} ({version})",
    }


def test_unreachable_advisories_fail_closed_with_a_message(lock: Path) -> None:
    verdict = gate.audit(lock, "osv", fetch=unreachable, runner=must_not_run)

    assert verdict.outcome is gate.Outcome.NOT_CHECKED
    assert int(verdict.outcome) == 3
    assert verdict.line().startswith("supply-chain gate: NOT VERIFIED — advisories unreachable")
    assert "https://api.osv.dev/v1/query" in verdict.line()
    assert "Name or service not known" in verdict.line()
    assert "none of the 3 locked packages was checked" in verdict.line()


def test_a_mirror_without_the_advisory_api_is_unreachable(lock: Path) -> None:
    # What this machine sees: the package index answers, its per-version JSON does not.
    verdict = gate.audit(lock, "pypi", fetch=not_found, runner=must_not_run)

    assert verdict.outcome is gate.Outcome.NOT_CHECKED
    assert "GET https://pypi.org/pypi/pip/20.0/json answered HTTP 404" in verdict.line()


@pytest.mark.parametrize(
    "payload",
    [b'{"info": {}, "vulnerabilities": []}', b'{"info": {}}', b"<html>proxy</html>", b"[]"],
)
def test_a_service_that_does_not_know_the_canary_advisory_is_not_a_pass(
    lock: Path, payload: bytes
) -> None:
    def answers(url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
        return 200, payload

    verdict = gate.audit(lock, "pypi", fetch=answers, runner=must_not_run)

    assert verdict.outcome is gate.Outcome.NOT_CHECKED


def test_every_package_skipped_is_advisories_unreachable_not_clean(lock: Path) -> None:
    # pip-audit itself exits 0 ("No known vulnerabilities found") on exactly this report.
    report = {
        "dependencies": [
            skipped("jinja2", "3.1.2"),
            skipped("idna", "3.10"),
            skipped("six", "1.16.0"),
        ],
        "fixes": [],
    }

    verdict = gate.audit(lock, "pypi", fetch=reachable, runner=runner_of(report))

    assert verdict.outcome is gate.Outcome.NOT_CHECKED
    assert "advisories unreachable" in verdict.summary
    assert "could not check any of the 3" in verdict.summary


def test_one_skipped_package_fails_the_gate(lock: Path) -> None:
    report = {
        "dependencies": [clean("jinja2", "3.1.2"), skipped("idna", "3.10"), clean("six", "1.16.0")]
    }

    verdict = gate.audit(lock, "pypi", fetch=reachable, runner=runner_of(report))

    assert verdict.outcome is gate.Outcome.NOT_CHECKED
    assert "1 of 3 locked packages could not be checked" in verdict.summary
    assert "idna" in verdict.summary


def test_a_package_left_out_of_the_report_fails_the_gate(lock: Path) -> None:
    report = {"dependencies": [clean("Jinja2", "3.1.2"), clean("idna", "3.10")]}

    verdict = gate.audit(lock, "pypi", fetch=reachable, runner=runner_of(report))

    assert verdict.outcome is gate.Outcome.NOT_CHECKED
    assert verdict.details == ["not checked: six: not in pip-audit's report"]


def test_a_known_vulnerability_fails_with_status_1_and_names_the_fix(lock: Path) -> None:
    vulnerable = {
        "name": "jinja2",
        "version": "3.1.2",
        "vulns": [
            {
                "id": "GHSA-h5c8-rqwp-cp95",
                "fix_versions": ["3.1.3"],
                "aliases": ["CVE-2024-22195"],
                "description": "xmlattr filter",
            }
        ],
    }
    report = {"dependencies": [vulnerable, clean("idna", "3.10"), clean("six", "1.16.0")]}

    verdict = gate.audit(lock, "pypi", fetch=reachable, runner=runner_of(report))

    assert verdict.outcome is gate.Outcome.VULNERABLE
    assert int(verdict.outcome) == 1
    assert verdict.line().startswith("supply-chain gate: FAILED — 1 known vulnerability")
    assert verdict.details == ["jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195), fixed in 3.1.3"]


def test_every_package_checked_and_clean_passes(lock: Path) -> None:
    report = {
        "dependencies": [clean("jinja2", "3.1.2"), clean("idna", "3.10"), clean("six", "1.16.0")]
    }

    verdict = gate.audit(lock, "pypi", fetch=reachable, runner=runner_of(report))

    assert verdict.outcome is gate.Outcome.CLEAN
    assert verdict.line() == (
        "supply-chain gate: PASSED — 3 locked packages checked against the PyPI advisory API, "
        "no known vulnerability"
    )


def test_pip_audit_failing_is_not_a_pass(lock: Path) -> None:
    runner = runner_of(None, "requests.exceptions.ConnectionError: Max retries exceeded")

    verdict = gate.audit(lock, "pypi", fetch=reachable, runner=runner)

    assert verdict.outcome is gate.Outcome.NOT_CHECKED
    assert "pip-audit failed (requests.exceptions.ConnectionError" in verdict.summary


def test_a_lock_line_that_is_not_a_pin_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("idna==3.10\nrequests>=2\n", encoding="utf-8")

    verdict = gate.audit(lock, "pypi", fetch=reachable, runner=must_not_run)

    assert verdict.outcome is gate.Outcome.NOT_CHECKED
    assert "line 2 is not name==version" in verdict.summary


def test_the_project_lock_is_read_whole_and_pins_the_gate_tools() -> None:
    pins = gate.read_lock(gate.LOCK)
    lines = [line for line in gate.LOCK.read_text(encoding="utf-8").splitlines() if line.strip()]

    assert len(pins) == len(lines)
    for tool in ("pip-audit", "bandit", "cyclonedx-bom"):
        assert tool in pins


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(gate.Outcome.CLEAN, 0), (gate.Outcome.VULNERABLE, 1), (gate.Outcome.NOT_CHECKED, 3)],
)
def test_main_exits_with_the_outcome_and_report_mode_always_exits_0(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    outcome: gate.Outcome,
    status: int,
) -> None:
    verdict = gate.Verdict(outcome, "what happened")
    monkeypatch.setattr(gate, "audit", lambda *args, **kwargs: verdict)

    assert gate.main([]) == status
    gate_output = capsys.readouterr()
    assert verdict.line() in gate_output.out + gate_output.err
    assert gate.main(["--report"]) == 0
    assert capsys.readouterr().out == verdict.line() + "\n"
