"""Real Pegasus processes for integration tests: `pegasus serve` and `pegasus worker`.

A ``Deployment`` is one column of the design: its environment (database, storage, queue)
plus the server and worker processes started from it. Every process is a real subprocess
started with the project's own CLI, on a free port, and stopped in teardown.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import redis
from pydantic import SecretStr

from pegasus.accounts.service import create_token, create_user
from pegasus.config import DatabaseSettings
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus_testkit.cli import PEGASUS, clean_env, run_cli
from pegasus_testkit.databases import TEMPLATES
from pegasus_testkit.ports import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
#: The password of every user ``Deployment.create_user`` makes.
PASSWORD = "correct horse battery staple"  # nosec B105  # test users, test databases
STARTUP_SECONDS = 60.0


@dataclass
class ManagedProcess:
    """A subprocess whose output goes to a temp file, shown when a test needs it."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        return self.full_output()[-6000:]

    def full_output(self) -> str:
        """Everything the process wrote so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crashed worker)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM without waiting: ``stop`` waits for it."""
        if self.process.poll() is None:
            self.process.terminate()

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
    #: The database's URL as the test reaches it (directly, even when the processes go
    #: through a proxy the test controls).
    database_url: str = ""
    base_url: str = ""
    processes: list[ManagedProcess] = field(default_factory=list)
    workers: list[ManagedProcess] = field(default_factory=list)
    server: ManagedProcess | None = None

    def start(self, *args: str, name: str) -> ManagedProcess:
        log = tempfile.TemporaryFile(prefix=f"pegasus-{name}-")  # noqa: SIM115 (closed in stop)
        process = subprocess.Popen(
            [*PEGASUS, *args],
            env=clean_env(self.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        managed = ManagedProcess(name=name, process=process, log=log)
        self.processes.append(managed)
        return managed

    def start_server(self, *, wait: bool = True) -> None:
        """Start `pegasus serve` on a free port; unless ``wait`` is false, return once it
        answers /healthz (else call ``wait_until_serving``)."""
        port = free_port()
        self.server = self.start("serve", "--host", "127.0.0.1", "--port", str(port), name="server")
        self.base_url = f"http://127.0.0.1:{port}"
        if wait:
            self.wait_until_serving()

    def wait_until_serving(self) -> None:
        server = self.server
        if server is None:
            raise RuntimeError("start_server() was not called")
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
        """Ask every process to stop at once, then wait for each (killing a hung one)."""
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()}" for p in self.processes)

    def cli(self, *args: str) -> str:
        return run_cli(self.env, *args)

    def create_user(self, email: str, *, admin: bool = False) -> str:
        """Create a user (password ``PASSWORD``) and return a fresh API token for it.

        Written straight into the deployment's database through the accounts service, as
        `pegasus users create` and `pegasus tokens create` do: two CLI processes would cost
        seconds per user, paid by most end-to-end tests (the CLI has tests of its own)."""
        engine = build_engine(DatabaseSettings(url=SecretStr(self.env["PEGASUS_DATABASE_URL"])))
        try:
            with unit_of_work(build_session_factory(engine)) as session:
                create_user(session, email, PASSWORD, is_admin=admin)
                return create_token(session, email)
        finally:
            engine.dispose()


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
def running(deployment: Deployment, *, workers: int, migrate: bool = True) -> Iterator[Deployment]:
    """Migrate (unless ``migrate`` is false: its database is a migrated clone already), start
    the server and ``workers`` worker processes; stop all afterwards."""
    try:
        if migrate:
            deployment.cli("db", "upgrade")
        # Workers start while the server does: neither waits for the other.
        deployment.start_server(wait=False)
        for _ in range(workers):
            deployment.start_worker()
        deployment.wait_until_serving()
        yield deployment
    finally:
        deployment.stop()


def fast_queue_env() -> dict[str, str]:
    """Short leases and reconcile intervals so lost work is recovered within seconds."""
    return {
        "PEGASUS_QUEUE_LEASE_SECONDS": "4",
        "PEGASUS_QUEUE_RECONCILE_INTERVAL_SECONDS": "1",
        "PEGASUS_QUEUE_REQUEUE_AFTER_SECONDS": "10",
        "PEGASUS_QUEUE_RETRY_BASE_SECONDS": "0.5",
        "PEGASUS_MEDIA_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
        "PEGASUS_LOG_LEVEL": "INFO",
    }


def embedded_env(root: Path) -> dict[str, str]:
    """Column (a)'s environment: a fresh migrated SQLite database (cloned from the template),
    local files and Huey on SQLite under ``root``, workers inside `pegasus serve`."""
    return {
        "PEGASUS_DATABASE_URL": TEMPLATES.sqlite(root / "pegasus.db"),
        "PEGASUS_STORAGE_BACKEND": "local",
        "PEGASUS_STORAGE_ROOT": str(root / "objects"),
        "PEGASUS_QUEUE_URL": f"sqlite:///{root / 'queue.db'}",
        "PEGASUS_SERVER_RUN_CONSUMER": "true",
        **fast_queue_env(),
    }


@contextlib.contextmanager
def embedded_deployment(
    root: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[Deployment]:
    """Column (a): SQLite, local files, Huey on SQLite, workers inside `pegasus serve`;
    ``env`` overrides settings."""
    settings = {**embedded_env(root), **(env or {})}
    deployment = Deployment(
        name="embedded", env=settings, workdir=root, database_url=settings["PEGASUS_DATABASE_URL"]
    )
    with running(deployment, workers=0, migrate=False) as started:
        yield started


@contextlib.contextmanager
def scaled_deployment(
    root: Path,
    s3_endpoint: str,
    *,
    workers: int,
    queue_url: str = REDIS_URL,
    database_port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Deployment]:
    """Column (b): PostgreSQL (a fresh clone of the migrated template), S3 (moto server), Huey
    on Redis, separate worker processes.

    Fault tests reroute it: ``queue_url`` names another Redis, ``database_port`` is where the
    processes reach PostgreSQL (a proxy the test controls; ``Deployment.database_url`` still
    reaches it directly), ``s3_endpoint`` may be a proxy too, and ``env`` overrides settings."""
    database_url = TEMPLATES.postgresql()
    served_url = database_url
    if database_port is not None:
        served_url = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{database_port}/", 1)
    queue_name = f"pegasus-test-{uuid.uuid4().hex[:8]}"
    secret_file = root / "s3-secret"
    secret_file.write_text("testing-secret\n", encoding="utf-8")
    settings = {
        "PEGASUS_DATABASE_URL": served_url,
        "PEGASUS_STORAGE_BACKEND": "s3",
        "PEGASUS_STORAGE_S3_ENDPOINT_URL": s3_endpoint,
        "PEGASUS_STORAGE_S3_BUCKET": f"pegasus-{uuid.uuid4().hex[:8]}",
        "PEGASUS_STORAGE_S3_CREATE_BUCKET": "true",
        "PEGASUS_STORAGE_S3_ACCESS_KEY_ID": "testing",
        "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE": str(secret_file),
        "PEGASUS_QUEUE_URL": queue_url,
        "PEGASUS_QUEUE_NAME": queue_name,
        "PEGASUS_SERVER_RUN_CONSUMER": "false",
        # Server and workers share one machine here: multiprocess metrics add them up.
        "PEGASUS_METRICS_MULTIPROC_DIR": str(root / "metrics"),
        **fast_queue_env(),
        **(env or {}),
    }
    try:
        deployment = Deployment(
            name="scaled", env=settings, workdir=root, database_url=database_url
        )
        with running(deployment, workers=workers, migrate=False):
            yield deployment
    finally:
        TEMPLATES.drop(database_url)
        client = redis.Redis.from_url(queue_url)
        try:
            for key in client.scan_iter(f"*{queue_name}*"):
                client.delete(key)
        except redis.ConnectionError:
            pass  # a Redis of the test's own, stopped already: nothing is left in it
        finally:
            client.close()
