"""`import pegasus.cli` stays light: commands import the web app, the database and the
pipeline inside their bodies, so `pegasus --help` and short commands start fast.
(`make bench` times it: bench/startup.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.startup import HEAVY_MODULES


def test_importing_the_cli_loads_no_heavy_library() -> None:
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, pegasus.cli; print(json.dumps(list(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = {name.partition(".")[0] for name in json.loads(listed.stdout)}
    assert "typer" in loaded  # the probe did import the CLI
    assert sorted(loaded & set(HEAVY_MODULES)) == []
