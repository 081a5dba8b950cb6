"""The dependency vulnerability gate: pip-audit over requirements.lock, failing closed.

Usage: ``python scripts/audit.py [--service pypi|osv] [--report]`` (``make audit``).

Exit status:

- 0: every locked package was checked and none has a known vulnerability;
- 1: at least one locked package has a known vulnerability;
- 3: the check could not be made: the advisory service is unreachable, pip-audit skipped a
  package ("could not be audited"), left one out of its report, or failed. Never 0 for a
  package nobody checked.

Why a wrapper: pip-audit alone exits 0 with "No known vulnerabilities found" when its
advisory service answers "not found" for every package (each skip is only a warning), and
``--strict`` exits 1 at the first skipped package, the status it also gives a vulnerability.
This reads pip-audit's JSON report instead and tells the three outcomes apart. It first asks
the advisory service about one package, so an unreachable service is named in one line at
once instead of after a minute of per-package failures.

``--report`` prints the same one-line verdict (``supply-chain gate: ...``) and exits 0
whatever it found: ``make test`` runs it so the suite says the gate was NOT VERIFIED rather
than staying silent or green. ``make audit`` and the release-gates CI workflow run the gate.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PREFIX = "supply-chain gate:"
#: A locked package's advisories are fetched the way pip-audit fetches them
#: (pip_audit/_service/pypi.py and osv.py), for a canary: pip 20.0, which has published
#: vulnerabilities (CVE-2021-3572 among them). A service that answers without any for it is
#: unreachable or stripped, not clean.
CANARY = ("pip", "20.0")
PROBES: dict[str, tuple[str, bytes | None]] = {
    "pypi": (f"https://pypi.org/pypi/{CANARY[0]}/{CANARY[1]}/json", None),
    "osv": (
        "https://api.osv.dev/v1/query",
        json.dumps(
            {"package": {"name": CANARY[0], "ecosystem": "PyPI"}, "version": CANARY[1]}
        ).encode(),
    ),
}
LABELS = {"pypi": "the PyPI advisory API", "osv": "the OSV advisory API"}
#: At most this many per-package lines are printed (the summary names the count).
MAX_DETAILS = 20
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)\s*$")


class Outcome(IntEnum):
    """The gate's verdict; its value is the exit status."""

    CLEAN = 0
    VULNERABLE = 1
    NOT_CHECKED = 3


@dataclass(frozen=True)
class Finding:
    """One known vulnerability of one locked package."""

    name: str
    version: str
    vuln_id: str
    fix_versions: tuple[str, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    summary: str
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        word = {
            Outcome.CLEAN: "PASSED",
            Outcome.VULNERABLE: "FAILED",
            Outcome.NOT_CHECKED: "NOT VERIFIED",
        }[self.outcome]
        return f"{PREFIX} {word} — {self.summary}"


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line; anything else is refused,
    because a line the audit cannot pin is a package it would not check."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            raise ValueError(f"{path.name} line {number} is not name==version: {line!r}")
        pins[canonical(match["name"])] = match["version"]
    return pins


Fetch = Callable[[str, bytes | None, float], tuple[int, bytes]]


def _fetch(url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    if not url.startswith("https://"):
        raise ValueError(f"advisory URL must be https: {url}")
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", "User-Agent": "pegasus"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310  # https only
        return int(response.status), response.read()


def probe(service: str, *, timeout: float = 15.0, fetch: Fetch = _fetch) -> str | None:
    """None when ``service`` answers an advisory query, else why not (one line)."""
    url, body = PROBES[service]
    where = f"{'POST' if body else 'GET'} {url}"
    try:
        status, payload = fetch(url, body, timeout)
    except urllib.error.HTTPError as exc:
        return f"{where} answered HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"{where} failed: {exc.reason}"
    except (OSError, ValueError) as exc:
        return f"{where} failed: {exc}"
    if status != 200:
        return f"{where} answered HTTP {status}"
    try:
        document = json.loads(payload)
    except ValueError:
        return f"{where} answered something that is not JSON"
    key = "vulnerabilities" if service == "pypi" else "vulns"
    if not isinstance(document, dict) or not document.get(key):
        return (
            f"{where} answered without the published advisories of "
            f"{CANARY[0]} {CANARY[1]} (a stripped or stale mirror)"
        )
    return None


def classify(pins: dict[str, str], report: dict[str, Any], service: str) -> Verdict:
    """The verdict on pip-audit's JSON ``report`` of the locked ``pins``."""
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    checked: set[str] = set()
    for dependency in report.get("dependencies", []):
        name = canonical(str(dependency.get("name", "")))
        if dependency.get("skip_reason"):
            skipped[name] = str(dependency["skip_reason"])
            continue
        checked.add(name)
        for vuln in dependency.get("vulns", []):
            findings.append(
                Finding(
                    name=name,
                    version=str(dependency.get("version", pins.get(name, "?"))),
                    vuln_id=str(vuln.get("id", "?")),
                    fix_versions=tuple(str(v) for v in vuln.get("fix_versions", [])),
                    aliases=tuple(str(a) for a in vuln.get("aliases", [])),
                )
            )
    missing = sorted(set(pins) - checked - set(skipped))
    unchecked = [f"{name}: {reason}" for name, reason in sorted(skipped.items())]
    unchecked += [f"{name}: not in pip-audit's report" for name in missing]
    details = [
        f"{f.name} {f.version}: {f.vuln_id}"
        + (f" ({', '.join(f.aliases)})" if f.aliases else "")
        + (f", fixed in {', '.join(f.fix_versions)}" if f.fix_versions else ", no fix yet")
        for f in findings
    ] + [f"not checked: {line}" for line in unchecked]
    if findings:
        packages = len({f.name for f in findings})
        summary = (
            f"{len(findings)} known vulnerabilit{'y' if len(findings) == 1 else 'ies'} in "
            f"{packages} locked package{'' if packages == 1 else 's'}: "
            + ", ".join(f"{f.name} {f.version} {f.vuln_id}" for f in findings[:3])
            + (" ..." if len(findings) > 3 else "")
        )
        if unchecked:
            summary += f"; {len(unchecked)} more could not be checked"
        return Verdict(Outcome.VULNERABLE, summary, details)
    if unchecked:
        if not checked:
            first = unchecked[0].split(": ", 1)[1]
            summary = (
                f"advisories unreachable (pip-audit could not check any of the {len(pins)} "
                f"locked packages against {LABELS[service]}: {first})"
            )
        else:
            summary = (
                f"{len(unchecked)} of {len(pins)} locked packages could not be checked "
                f"against {LABELS[service]} ({unchecked[0]})"
            )
        return Verdict(Outcome.NOT_CHECKED, summary, details)
    return Verdict(
        Outcome.CLEAN,
        f"{len(pins)} locked packages checked against {LABELS[service]}, no known vulnerability",
    )


def run_pip_audit(
    lock: Path, service: str, timeout: float, ignore: Sequence[str]
) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report of ``lock`` (None when it wrote none) and its last error line."""
    with tempfile.TemporaryDirectory(prefix="pegasus-audit-") as scratch:
        output = Path(scratch) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(lock),
            "--no-deps",
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--format",
            "json",
            "--output",
            str(output),
            "--progress-spinner",
            "off",
            "--timeout",
            str(int(timeout)),
        ]
        for vuln_id in ignore:
            command += ["--ignore-vuln", vuln_id]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        last = errors[-1] if errors else f"pip-audit exited with status {done.returncode}"
        if done.returncode not in (0, 1) or not output.exists():
            return None, last
        try:
            report = json.loads(output.read_text(encoding="utf-8"))
        except ValueError:
            return None, "pip-audit's report is not JSON"
        return (report if isinstance(report, dict) else None), last


Runner = Callable[[Path, str, float, Sequence[str]], tuple[dict[str, Any] | None, str]]


def audit(
    lock: Path,
    service: str,
    *,
    timeout: float = 15.0,
    ignore: Sequence[str] = (),
    fetch: Fetch = _fetch,
    runner: Runner = run_pip_audit,
) -> Verdict:
    """The gate's verdict on ``lock``: probe the service, run pip-audit, classify."""
    try:
        pins = read_lock(lock)
    except (OSError, ValueError) as exc:
        return Verdict(Outcome.NOT_CHECKED, f"the lock could not be read ({exc})")
    if not pins:
        return Verdict(Outcome.NOT_CHECKED, f"{lock.name} pins no package")
    unreachable = probe(service, timeout=timeout, fetch=fetch)
    if unreachable is not None:
        return Verdict(
            Outcome.NOT_CHECKED,
            f"advisories unreachable (pip-audit could not reach {LABELS[service]}: "
            f"{unreachable}; none of the {len(pins)} locked packages was checked)",
        )
    report, last_error = runner(lock, service, timeout, ignore)
    if report is None:
        return Verdict(Outcome.NOT_CHECKED, f"pip-audit failed ({last_error})")
    return classify(pins, report, service)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=LOCK, help="pinned requirements to audit")
    parser.add_argument(
        "--service", choices=sorted(PROBES), default="pypi", help="advisory database"
    )
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    parser.add_argument(
        "--ignore-vuln",
        action="append",
        default=[],
        metavar="ID",
        help="a vulnerability accepted on purpose (say why where you pass it)",
    )
    parser.add_argument(
        "--report", action="store_true", help="print the verdict line and exit 0 whatever it is"
    )
    args = parser.parse_args(argv)
    verdict = audit(args.lock, args.service, timeout=args.timeout, ignore=args.ignore_vuln)
    if args.report:
        sys.stdout.write(verdict.line() + "\n")
        return 0
    out = sys.stderr if verdict.outcome else sys.stdout
    out.writelines(f"  {line}\n" for line in verdict.details[:MAX_DETAILS])
    if len(verdict.details) > MAX_DETAILS:
        out.write(f"  ... and {len(verdict.details) - MAX_DETAILS} more\n")
    out.write(verdict.line() + "\n")
    if verdict.outcome is Outcome.NOT_CHECKED:
        out.write(
            "The gate fails closed: a package that could not be checked is not a pass. Run "
            "`make audit` where the advisory service is reachable "
            "(docs/security/supply-chain.md).\n"
        )
    return int(verdict.outcome)


if __name__ == "__main__":
    sys.exit(main())
