"""`make sbom` (scripts/sbom.sh): a CycloneDX SBOM that lists every locked package, made
offline (any network use would fail here: every proxy points at a closed local port)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
SCRIPT = ROOT / "scripts" / "sbom.sh"
CLOSED = "http://127.0.0.1:9"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> set[tuple[str, str]]:
    pins = set()
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, _, version = line.strip().partition("==")
            pins.add((canonical(name), version))
    return pins


@pytest.fixture(scope="module")
def sbom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sbom") / "sbom.cdx.json"
    env = {
        **os.environ,
        "CYCLONEDX_PY": str(Path(sys.executable).parent / "cyclonedx-py"),
        "HTTP_PROXY": CLOSED,
        "HTTPS_PROXY": CLOSED,
        "http_proxy": CLOSED,
        "https_proxy": CLOSED,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    done = subprocess.run(
        [str(SCRIPT), str(out)], env=env, capture_output=True, text=True, check=False, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert "UserWarning" not in done.stderr
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


def test_the_sbom_is_cyclonedx_with_pegasus_as_its_root(sbom: dict[str, Any]) -> None:
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.6"
    root = sbom["metadata"]["component"]
    assert (root["name"], root["type"]) == ("pegasus", "application")


def test_the_sbom_lists_every_locked_package_and_nothing_else(sbom: dict[str, Any]) -> None:
    listed = {(canonical(c["name"]), c["version"]) for c in sbom["components"]}

    assert listed == locked()
    assert len(sbom["components"]) == len(locked())


def test_each_component_has_its_package_url(sbom: dict[str, Any]) -> None:
    # The purl spec for PyPI: lower case, "_" as "-" (dots stay: pkg:pypi/boolean.py@5.0).
    for component in sbom["components"]:
        name = component["name"].lower().replace("_", "-")
        assert component["purl"] == f"pkg:pypi/{name}@{component['version']}"
