"""Real Pegasus processes for integration tests: `pegasus serve` and `pegasus worker`.

A ``Deployment`` is one column of the design: its environment (database, storage, queue)
plus the server and worker processes started from it. Every process is a real subprocess
started with the project's own CLI, on a free port, and stopped in teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.moto_server import free_port

PEGASUS = [sys.executable, "-m", "pegasus"]
STARTUP_SECONDS = 60.0


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGASUS_")}
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, input_text: str | None = None) -> str:
    """Run ``pegasus ARGS`` with ``env``; return stdout; raise with its output on failure."""
    result = subprocess.run(
        [*PEGASUS, *args],
        env=_clean_env(env),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"pegasus {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


@dataclass
class ManagedProcess:
    """A subprocess whose output goes to a temp file, shown when a test needs it."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-6000:].decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crashed worker)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@dataclass
class Deployment:
    """One column's environment and its running processes."""

    name: str
    env: dict[str, str]
    workdir: Path
    base_url: str = ""
    processes: list[ManagedProcess] = field(default_factory=list)
    workers: list[ManagedProcess] = field(default_factory=list)

    def start(self, *args: str, name: str) -> ManagedProcess:
        log = tempfile.TemporaryFile(prefix=f"pegasus-{name}-")  # noqa: SIM115 (closed in stop)
        process = subprocess.Popen(
            [*PEGASUS, *args],
            env=_clean_env(self.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        managed = ManagedProcess(name=name, process=process, log=log)
        self.processes.append(managed)
        return managed

    def start_server(self) -> None:
        port = free_port()
        server = self.start("serve", "--host", "127.0.0.1", "--port", str(port), name="server")
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"pegasus serve exited:\n{server.output()}")
            with contextlib.suppress(httpx.TransportError), httpx.Client(timeout=1) as probe:
                if probe.get(f"{self.base_url}/healthz").status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"pegasus serve did not answer:\n{server.output()}")

    def start_worker(self) -> ManagedProcess:
        worker = self.start("worker", name=f"worker-{len(self.workers) + 1}")
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()}" for p in self.processes)

    def cli(self, *args: str) -> str:
        return run_cli(self.env, *args)

    def create_user(self, email: str, *, admin: bool = False) -> str:
        """Create a user through the CLI and return a fresh API token for it."""
        password_file = self.workdir / f"{email}.password"
        password_file.write_text("correct horse battery staple\n", encoding="utf-8")
        flags = ["--admin"] if admin else []
        self.cli("users", "create", email, "--password-file", str(password_file), *flags)
        return self.cli("tokens", "create", email).strip()


class Api:
    """A signed-in HTTP client for one user of a deployment."""

    def __init__(self, deployment: Deployment, token: str) -> None:
        self.deployment = deployment
        self.client = httpx.Client(
            base_url=deployment.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def close(self) -> None:
        self.client.close()

    def create_course(self, name: str) -> dict[str, Any]:
        response = self.client.post("/api/v1/courses", json={"name": name})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def upload(
        self,
        course_id: str,
        path: Path,
        *,
        preset: str = "quick-review",
        content_type: str = "application/octet-stream",
        title: str | None = None,
    ) -> httpx.Response:
        data = {"preset": preset}
        if title is not None:
            data["title"] = title
        with path.open("rb") as fh:
            return self.client.post(
                f"/api/v1/courses/{course_id}/lectures",
                files={"file": (path.name, fh, content_type)},
                data=data,
            )

    def lecture(self, lecture_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/lectures/{lecture_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_for(
        self,
        lecture_id: str,
        *,
        statuses: tuple[str, ...] = ("succeeded", "failed"),
        timeout: float = 240.0,
    ) -> dict[str, Any]:
        """Poll the lecture until its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        lecture = self.lecture(lecture_id)
        while lecture["status"] not in statuses:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"lecture still {lecture['status']} after {timeout:.0f} s: {lecture}\n"
                    f"{self.deployment.logs()}"
                )
            time.sleep(0.5)
            lecture = self.lecture(lecture_id)
        return lecture


@contextlib.contextmanager
def running(deployment: Deployment, *, workers: int) -> Iterator[Deployment]:
    """Migrate, start the server and ``workers`` worker processes; stop all afterwards."""
    try:
        deployment.cli("db", "upgrade")
        deployment.start_server()
        for _ in range(workers):
            deployment.start_worker()
        yield deployment
    finally:
        deployment.stop()
