"""Run a real Prometheus server (the Debian ``prometheus`` binary) as a process for tests.

``prometheus_server()`` starts it on a free 127.0.0.1 port with a throw-away TSDB, waits for
``/-/ready`` and stops it afterwards. Tests talk to it over its HTTP API, for example
``server.query("up")`` or ``server.get("/api/v1/rules")``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pegasus_testkit.ports import free_port

STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0

#: Used when no configuration is given: no scrape jobs, so only queries and rules.
EMPTY_CONFIG = "global:\n  evaluation_interval: 1s\n"


class PrometheusNotInstalledError(RuntimeError):
    """The ``prometheus`` binary is not on PATH; install it with ``apt-get install prometheus``."""


@dataclass(frozen=True)
class PrometheusServer:
    """A running Prometheus: where it listens and what it was started with."""

    base_url: str
    config_file: Path
    storage_path: Path

    def get(self, path: str, params: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """GET ``path`` (``/api/v1/...``) and return the HTTP status and the decoded JSON body.

        Prometheus answers errors such as a PromQL parse error (400, ``bad_data``) with a JSON
        body too, so callers can assert on it instead of catching an exception.
        """
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # nosec B310  # our http URL
                return int(response.status), json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                body = error.read()
            try:
                return error.code, json.loads(body)
            except ValueError:
                return error.code, {"status": "error", "error": body.decode(errors="replace")}

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """Evaluate an instant query (at unix time ``at``, default now); return the response.

        The response holds ``status`` and either ``data`` or ``errorType``/``error``.
        """
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        _status, body = self.get("/api/v1/query", params)
        result: dict[str, Any] = body
        return result

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        *,
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll an instant query until ``predicate(result)`` holds; return that result.

        ``result`` is the ``data.result`` list of a vector query. Raises ``TimeoutError``
        with the last answer when the predicate does not hold within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while True:
            last = self.query(expr)
            if last.get("status") == "success":
                result: list[dict[str, Any]] = last["data"]["result"]
                if predicate(result):
                    return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{expr!r} did not reach the expected state; last: {last}")
            time.sleep(0.2)


def prometheus_binary() -> str:
    """Path of the ``prometheus`` binary, or a clear error saying how to install it."""
    path = shutil.which("prometheus")
    if path is None:
        raise PrometheusNotInstalledError(
            "the `prometheus` binary is not on PATH; install it with "
            "`sudo apt-get install prometheus` (Debian/Ubuntu package `prometheus`)"
        )
    return path


def _ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/-/ready")
        response = connection.getresponse()
        response.read()
    except OSError:
        return False
    finally:
        connection.close()
    return response.status == 200


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


@contextlib.contextmanager
def prometheus_server(
    config_yaml: str | None = None,
    rule_files: Sequence[Path] = (),
    extra_args: Sequence[str] = (),
) -> Iterator[PrometheusServer]:
    """Start ``prometheus`` on a free port with a temporary TSDB; yield it; stop it.

    ``config_yaml`` is the text of ``prometheus.yml`` (scrape jobs, alerting, ...); when it
    is None an empty configuration with a 1 s evaluation interval is used. ``rule_files``
    are appended to the configuration's ``rule_files`` (absolute paths, so they may live
    anywhere). ``extra_args`` go to the command line as they are, e.g.
    ``["--web.enable-admin-api"]``. Raises ``PrometheusNotInstalledError`` when the binary
    is missing and ``RuntimeError`` with the server's output when it does not become ready.
    """
    binary = prometheus_binary()
    with tempfile.TemporaryDirectory(prefix="pegasus-prometheus-") as tmp:
        root = Path(tmp)
        config_file = root / "prometheus.yml"
        config_file.write_text(
            _with_rule_files(config_yaml or EMPTY_CONFIG, rule_files), encoding="utf-8"
        )
        storage = root / "data"
        log_path = root / "prometheus.log"
        with log_path.open("w+b") as log:
            for _attempt in range(3):  # the free port may be taken before Prometheus binds it
                port = free_port()
                process = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config_file}",
                        f"--storage.tsdb.path={storage}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--log.level=warn",
                        *extra_args,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=root,
                )
                try:
                    deadline = time.monotonic() + STARTUP_SECONDS
                    while process.poll() is None and time.monotonic() < deadline:
                        if _ready(port):
                            yield PrometheusServer(
                                base_url=f"http://127.0.0.1:{port}",
                                config_file=config_file,
                                storage_path=storage,
                            )
                            return
                        time.sleep(0.1)
                finally:
                    _stop(process)
            log.seek(0)
            output = log.read()[-4000:].decode(errors="replace")
    raise RuntimeError(f"prometheus did not become ready; its output ended with:\n{output}")


def _with_rule_files(config_yaml: str, rule_files: Sequence[Path]) -> str:
    """Append a ``rule_files`` list to a configuration that does not declare one itself."""
    if not rule_files:
        return config_yaml
    if any(line.startswith("rule_files:") for line in config_yaml.splitlines()):
        raise ValueError("pass rule files either in config_yaml or as rule_files, not both")
    lines = [config_yaml.rstrip("\n"), "rule_files:"]
    lines += [f"  - {json.dumps(str(path.resolve()))}" for path in rule_files]
    return "\n".join(lines) + "\n"
