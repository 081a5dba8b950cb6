"""Benchmark: how long `pegasus --help` takes, and which imports it pays for.

    python -m bench.startup [--runs 9] [--limit 0.5] [--top 15]

Runs `pegasus --help` (the console script next to this interpreter, else `python -m pegasus`)
once to warm the file cache, then ``--runs`` times, and takes the median wall time; the CPU
time of the same runs is printed too, since wall time on a busy machine says more about the
machine than about the code. Then runs `python -X importtime -c "import pegasus.cli"` and
lists the imports with the largest cumulative time, and any heavy library (the web app, the
database, the speech model, the renderers) the CLI module pulled in: commands import those
inside their bodies. Prints JSON. Exits 1 when the median is over ``--limit`` seconds or a
heavy library is imported by `import pegasus.cli`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: Libraries `import pegasus.cli` must not load: each costs from tens of milliseconds to
#: seconds, and `pegasus --help` (and every short command) would pay for it.
HEAVY_MODULES: tuple[str, ...] = (
    "alembic",
    "anki",
    "argon2",
    "av",
    "boto3",
    "botocore",
    "ctranslate2",
    "cryptography",
    "fastapi",
    "faster_whisper",
    "fpdf",
    "genanki",
    "huey",
    "jinja2",
    "numpy",
    "prometheus_client",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "redis",
    "schemathesis",
    "sqlalchemy",
    "starlette",
    "structlog",
    "uvicorn",
    "yaml",
)


@dataclass(frozen=True)
class ImportTime:
    module: str
    self_us: int
    cumulative_us: int


def pegasus_command() -> list[str]:
    """`pegasus` as installed next to this interpreter, else ``python -m pegasus``."""
    script = Path(sys.executable).with_name("pegasus")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("pegasus")
    return [found] if found else [sys.executable, "-m", "pegasus"]


def time_help(command: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of ``runs`` runs of ``command --help``."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [*command, "--help"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        )
    return walls, cpus


def import_times(module: str) -> list[ImportTime]:
    """Every import `python -X importtime -c "import MODULE"` reports, in report order."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    return parse_importtime(result.stderr)


def parse_importtime(report: str) -> list[ImportTime]:
    """The lines of an ``-X importtime`` report (``import time: self | cumulative | name``)."""
    rows: list[ImportTime] = []
    for line in report.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(fields) != 3 or not fields[0].isdigit():
            continue  # the header line
        rows.append(ImportTime(fields[2], int(fields[0]), int(fields[1])))
    return rows


def heavy_imported(rows: list[ImportTime]) -> list[str]:
    """The entries of ``HEAVY_MODULES`` that appear (as themselves) in ``rows``."""
    names = {row.module for row in rows}
    return sorted(name for name in HEAVY_MODULES if name in names)


def _env() -> dict[str, str]:
    # No PEGASUS_* settings: --help must not depend on them; no bytecode writes either.
    return {k: v for k, v in os.environ.items() if not k.startswith("PEGASUS_")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="timed runs (after one warm-up)")
    parser.add_argument("--limit", type=float, default=0.5, help="median seconds allowed")
    parser.add_argument("--top", type=int, default=15, help="imports to list")
    args = parser.parse_args(argv)

    command = pegasus_command()
    time_help(command, 1)  # warm the page cache and the bytecode
    walls, cpus = time_help(command, args.runs)
    rows = import_times("pegasus.cli")
    total = next((row for row in rows if row.module == "pegasus.cli"), None)
    heavy = heavy_imported(rows)
    median = statistics.median(walls)
    report = {
        "command": [*command, "--help"],
        "runs": args.runs,
        "wall_seconds": {
            "median": round(median, 3),
            "min": round(min(walls), 3),
            "max": round(max(walls), 3),
        },
        "cpu_seconds_median": round(statistics.median(cpus), 3),
        "limit_seconds": args.limit,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "import_pegasus_cli_ms": round(total.cumulative_us / 1000, 1) if total else None,
        "top_cumulative_imports_ms": [
            {"module": row.module, "cumulative": round(row.cumulative_us / 1000, 1)}
            for row in sorted(rows, key=lambda r: r.cumulative_us, reverse=True)[: args.top]
        ],
        "heavy_modules_imported": heavy,
        "ok": median <= args.limit and not heavy,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
