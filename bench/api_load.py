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
import sys
import time

from bench.support import embedded_server, speech, upload, wait_done
from pegasus.loadgen import Classroom, burst, percentile, run_classroom


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with embedded_server(args.database_url) as server, server.client() as http:
        course = http.post("/api/v1/courses", json={"name": "Bench"}).json()
        finished = upload(http, course["id"], speech(server.root / "short.wav"), "full-notes")
        wait_done(http, finished)
        segments = http.get(f"/api/v1/lectures/{finished}/transcript").json()["segments"]
        positions = tuple(range(len(segments)))
        long_wav = speech(server.root / "long.wav", 20)
        processing = upload(http, course["id"], long_wav, "quick-review")
        room = Classroom(
            base_url=server.base_url,
            token=server.token,
            course_id=course["id"],
            processing_lecture_id=processing,
            finished_lecture_id=finished,
            segments=positions[:-2],
            contested=positions[-2:],
        )
        started = time.perf_counter()
        report = asyncio.run(run_classroom(room, clients=args.clients))
        classroom_seconds = time.perf_counter() - started
        bursts = asyncio.run(burst(server.base_url, server.token, "/api/v1/courses"))
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
