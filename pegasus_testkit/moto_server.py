"""Run moto's S3 server as a real separate process (integration tests, benchmarks)."""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from pegasus_testkit.ports import free_port

STARTUP_SECONDS = 30.0


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/moto-api/")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


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
def moto_s3_server() -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port; yield its endpoint URL; stop it."""
    with tempfile.TemporaryFile() as log:
        for _attempt in range(3):  # the free port may be taken before moto binds it
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + STARTUP_SECONDS
                while process.poll() is None and time.monotonic() < deadline:
                    if _answers(port):
                        yield f"http://127.0.0.1:{port}"
                        return
                    time.sleep(0.1)
            finally:
                _stop(process)
        log.seek(0)
        output = log.read()[-4000:].decode(errors="replace")
        raise RuntimeError(f"moto server did not start; its output ended with:\n{output}")
