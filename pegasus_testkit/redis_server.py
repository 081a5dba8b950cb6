"""A Redis server a test owns: its own process on a free port, keeping nothing on disk.

The machine's Redis (6379) is shared by every test; a test that restarts the broker needs one
of its own. ``redis_server()`` starts ``redis-server`` with persistence off (``--save ""``,
``--appendonly no``) in a temporary directory; ``restart()`` stops it and starts a new one on
the same port, which therefore starts empty: every queued message is gone, as after a broker
crash. It is stopped in teardown.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import redis

from pegasus_testkit.ports import free_port

STARTUP_SECONDS = 15.0


def redis_server_binary() -> str:
    """Path of redis-server, or a RuntimeError that says how to install it."""
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("redis-server is not installed; apt-get install redis-server")
    return found


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1:``port`` with no persistence."""

    def __init__(self, directory: Path, log: IO[bytes]) -> None:
        self.directory = directory
        self.port = 0
        self.starts = 0
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start on a free port (the first time) or on the same port again."""
        if self._process is not None:
            raise RuntimeError("redis-server is running already")
        for _attempt in range(3):  # a free port may be taken before redis binds it
            port = self.port or free_port()
            process = subprocess.Popen(
                [
                    redis_server_binary(),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.directory),
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            if self._wait_until_answering(process, port):
                self._process = process
                self.port = port
                self.starts += 1
                return
            _stop(process)
            if self.port:  # the same port is required: no second chance on another
                break
        raise RuntimeError(f"redis-server did not start; its output ended with:\n{self.output()}")

    def stop(self) -> None:
        """Stop the server; everything it held is lost (nothing is saved)."""
        if self._process is not None:
            _stop(self._process)
            self._process = None

    def restart(self) -> None:
        """Stop, then start an empty server on the same port."""
        self.stop()
        self.start()

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace")

    @staticmethod
    def _wait_until_answering(process: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + STARTUP_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                pass
            finally:
                client.close()
            time.sleep(0.05)
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A running ``RedisServer`` of the caller's own; stopped (and its directory removed)
    afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="pegasus-redis-") as directory,
        tempfile.TemporaryFile(prefix="pegasus-redis-log-") as log,
    ):
        server = RedisServer(Path(directory), log)
        server.start()
        try:
            yield server
        finally:
            server.stop()
