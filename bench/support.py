"""What the benchmarks share: an embedded `pegasus serve` in a temporary directory, a signed-in
API client, and spoken lectures made with espeak-ng. Tools import this and ``pegasus_testkit``,
never the test suite."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pegasus_testkit.ports import free_port

LECTURE = (
    "Photosynthesis is the process that turns light energy into chemical energy. "
    "Chlorophyll is the green pigment that absorbs light. The Calvin cycle builds sugar "
    "from carbon dioxide. The stroma is the fluid around the thylakoids. Stomata are small "
    "pores in the leaf that let carbon dioxide in. ATP is the molecule that stores energy."
)
PASSWORD = "a long enough password"


@dataclass(frozen=True)
class Server:
    """A running embedded Pegasus and its first user."""

    root: Path
    base_url: str
    env: dict[str, str]
    email: str
    token: str

    def cli(self, *args: str) -> str:
        return cli(self.env, *args)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )


def speech(path: Path, repeats: int = 1) -> Path:
    """A WAV of the lecture paragraph said ``repeats`` times (espeak-ng)."""
    subprocess.run(
        ["espeak-ng", "-s", "165", "-w", str(path), " ".join([LECTURE] * repeats)], check=True
    )
    return path


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pegasus", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"pegasus {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


@contextlib.contextmanager
def embedded_server(database_url: str = "") -> Iterator[Server]:
    """`pegasus serve` on a free loopback port with SQLite (or ``database_url``), local files
    and Huey in-process, and a user with an API token; stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="pegasus-bench-") as tmp:
        root = Path(tmp)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEGASUS_")}
        env.update(
            PEGASUS_DATABASE_URL=database_url or f"sqlite:///{root / 'pegasus.db'}",
            PEGASUS_STORAGE_ROOT=str(root / "objects"),
            PEGASUS_QUEUE_URL=f"sqlite:///{root / 'queue.db'}",
            PEGASUS_LOG_LEVEL="WARNING",
        )
        cli(env, "db", "upgrade")
        password = root / "password"
        password.write_text(PASSWORD + "\n", encoding="utf-8")
        email = "bench@example.org"
        cli(env, "users", "create", email, "--password-file", str(password))
        token = cli(env, "tokens", "create", email)
        with (root / "server.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "pegasus", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            server = Server(root, f"http://127.0.0.1:{port}", env, email, token)
            try:
                _wait_healthy(server.base_url)
                yield server
            finally:
                process.terminate()
                process.wait(timeout=30)


def _wait_healthy(base_url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit("pegasus serve did not start")


def upload(http: httpx.Client, course_id: str, path: Path, preset: str) -> str:
    with path.open("rb") as fh:
        answer = http.post(
            f"/api/v1/courses/{course_id}/lectures",
            files={"file": (path.name, fh, "audio/wav")},
            data={"preset": preset},
        )
    answer.raise_for_status()
    lecture_id: str = answer.json()["id"]
    return lecture_id


def wait_done(http: httpx.Client, lecture_id: str, timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lecture: dict[str, Any] = http.get(f"/api/v1/lectures/{lecture_id}").json()
        if lecture["status"] in ("succeeded", "failed"):
            return lecture
        time.sleep(0.5)
    raise SystemExit(f"lecture {lecture_id} did not finish")
