"""Run the project's own CLI (`python -m pegasus ...`) as a subprocess with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PEGASUS = [sys.executable, "-m", "pegasus"]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any ``PEGASUS_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGASUS_")}
    env.update(extra)
    return env


def run_cli(
    env: dict[str, str], *args: str, input_text: str | None = None, cwd: Path | None = None
) -> str:
    """Run ``pegasus ARGS`` with ``env``; return stdout; raise with its output on failure."""
    result = subprocess.run(
        [*PEGASUS, *args],
        env=clean_env(env),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"pegasus {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout
