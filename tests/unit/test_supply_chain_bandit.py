"""bandit, the security gate of `make lint`: it fails on a planted finding, its project-wide
skips are the three documented ones, and every per-line exception names its check and why."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
BANDIT = Path(sys.executable).parent / "bandit"
#: What `make lint` scans (the Makefile's bandit line names the same).
SCANNED = ("src/pegasus", "pegasus_testkit", "scripts")
#: `# nosec B311` or `# nosec B105, B106` followed by `  # why`: bandit reads the ids, the
#: second comment is for the reviewer. A bare `# nosec` would silence every check on the line.
NOSEC_WITH_REASON = re.compile(r"#\s*nosec\s+B\d{3}(?:\s*,\s*B\d{3})*\s+#\s*\S.{5,}")


def run_bandit(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BANDIT), "-q", "-c", str(PYPROJECT), "-r", str(target)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("code", "check"),
    [
        ("import subprocess\n\ndef f(x):\n    subprocess.call(x, shell=True)\n", "B602"),
        ("import os\n\ndef run(x: str) -> None:\n    os.system(x)\n", "B605"),
        ("import subprocess\n\nsubprocess.run(['pg_dump', '-V'])\n", "B607"),
        ("import random\n\nTOKEN = str(random.getrandbits(128))\n", "B311"),
        ("import yaml\n\ndef load(text: str) -> object:\n    return yaml.load(text)\n", "B506"),
    ],
)
def test_a_planted_finding_fails_the_gate(tmp_path: Path, code: str, check: str) -> None:
    (tmp_path / "planted.py").write_text(code, encoding="utf-8")

    done = run_bandit(tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"[{check}:" in done.stdout


def test_the_same_code_with_a_reasoned_nosec_passes(tmp_path: Path) -> None:
    (tmp_path / "reasoned.py").write_text(
        "import random\n\n"
        "DELAY = random.uniform(0.5, 1.0)  # nosec B311  # jitter, never a secret\n",
        encoding="utf-8",
    )

    done = run_bandit(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr


def test_only_the_documented_checks_are_off_for_the_whole_project() -> None:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["bandit"]

    assert sorted(config["skips"]) == ["B101", "B404", "B603"]
    assert "tests" not in config  # an allow-list would turn every other check off
    assert not set(config.get("exclude_dirs", [])) & set(SCANNED)


def test_every_nosec_names_its_check_and_says_why() -> None:
    bare = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if "nosec" in line and not NOSEC_WITH_REASON.search(line):
                    bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bare == []


def test_make_lint_runs_bandit_over_the_scanned_code_with_the_project_config() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]

    assert f"$(BIN)/bandit -q -c pyproject.toml -r {' '.join(SCANNED)}" in lint
