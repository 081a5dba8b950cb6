"""Benchmark: a classroom of concurrent clients against `pegasus serve`, latencies per route.

    python bench/api_load.py --clients 200

Starts the embedded default (SQLite, local files, Huey inside `pegasus serve`) in a temporary
directory on a free loopback port, signs a user in, processes one spoken lecture (espeak-ng),
uploads a second one and, while that one is being processed, starts ``--clients`` clients at
once (``pegasus.loadgen.run_classroom``: status reads, course and lecture lists, transcript
reads, review edits with If-Match), then 200 identical course lists at once. Prints one JSON
object: status counts and p50/p95/max seconds per route. Exits 1 on any 5xx.
``--database-url postgresql+psycopg://...`` runs the same against PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from pegasus.loadgen import Classroom, burst, percentile, run_classroom

LECTURE = (
    "Photosynthesis is the process that turns light energy into chemical energy. "
    "Chlorophyll is the green pigment that absorbs light. The Calvin cycle builds sugar "
    "from carbon dioxide. The stroma is the fluid around the thylakoids. Stomata are small "
    "pores in the leaf that let carbon dioxide in. ATP is the molecule that stores energy."
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _speech(path: Path, repeats: int) -> Path:
    subprocess.run(
        ["espeak-ng", "-s", "165", "-w", str(path), " ".join([LECTURE] * repeats)], check=True
    )
    return path


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pegasus", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"pegasus {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def _wait(http: httpx.Client, lecture_id: str, timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lecture: dict[str, Any] = http.get(f"/api/v1/lectures/{lecture_id}").json()
        if lecture["status"] in ("succeeded", "failed"):
            return lecture
        time.sleep(0.5)
    raise SystemExit(f"lecture {lecture_id} did not finish")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pegasus-bench-") as tmp:
        root = Path(tmp)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEGASUS_")}
        env.update(
            PEGASUS_DATABASE_URL=args.database_url or f"sqlite:///{root / 'pegasus.db'}",
            PEGASUS_STORAGE_ROOT=str(root / "objects"),
            PEGASUS_QUEUE_URL=f"sqlite:///{root / 'queue.db'}",
            PEGASUS_LOG_LEVEL="WARNING",
        )
        _cli(env, "db", "upgrade")
        password = root / "password"
        password.write_text("a long enough password\n", encoding="utf-8")
        _cli(env, "users", "create", "bench@example.org", "--password-file", str(password))
        token = _cli(env, "tokens", "create", "bench@example.org")
        log = (root / "server.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "pegasus", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as http:
                for _ in range(300):
                    try:
                        if http.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.2)
                course = http.post("/api/v1/courses", json={"name": "Bench"}).json()

                def upload(path: Path, preset: str) -> str:
                    with path.open("rb") as fh:
                        answer = http.post(
                            f"/api/v1/courses/{course['id']}/lectures",
                            files={"file": (path.name, fh, "audio/wav")},
                            data={"preset": preset},
                        )
                    lecture_id: str = answer.json()["id"]
                    return lecture_id

                finished = upload(_speech(root / "short.wav", 1), "full-notes")
                _wait(http, finished)
                segments = http.get(f"/api/v1/lectures/{finished}/transcript").json()["segments"]
                positions = tuple(range(len(segments)))
                processing = upload(_speech(root / "long.wav", 20), "quick-review")
                room = Classroom(
                    base_url=base,
                    token=token,
                    course_id=course["id"],
                    processing_lecture_id=processing,
                    finished_lecture_id=finished,
                    segments=positions[:-2],
                    contested=positions[-2:],
                )
                started = time.perf_counter()
                report = asyncio.run(run_classroom(room, clients=args.clients))
                classroom_seconds = time.perf_counter() - started
                bursts = asyncio.run(burst(base, token, "/api/v1/courses", clients=200))
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    result = {
        "clients": args.clients,
        "database": "postgresql" if args.database_url else "sqlite",
        "classroom_seconds": round(classroom_seconds, 2),
        "requests": report.requests,
        "statuses": dict(sorted(report.statuses.items())),
        "burst_200_course_lists": dict(bursts),
        "latency_seconds": {
            name: {
                "n": len(values),
                "p50": round(percentile(values, 0.5), 3),
                "p95": round(percentile(values, 0.95), 3),
                "max": round(max(values), 3),
            }
            for name, values in sorted(report.latencies.items())
        },
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    failed = report.count_5xx() or any(status >= 500 for status in bursts)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
