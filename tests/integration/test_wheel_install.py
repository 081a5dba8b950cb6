"""The wheel, installed outside the repository, migrates, serves /readyz and /ops, and
processes a recording: everything the package reads at run time ships in it.

The wheel is built offline from a copy of the sources (``--no-build-isolation``, with the dev
environment's setuptools) and installed with ``--no-deps`` into a fresh venv under
``tmp_path``. Its third-party dependencies come from the dev venv's site-packages through a
``.pth`` line: a plain path entry, so the dev venv's own ``.pth`` files (among them the
editable install's, which points at ``src/``) are not read. The test checks that ``pegasus``
is imported from the new venv and that no part of the repository is on ``sys.path``; every
command runs with its working directory in ``tmp_path`` and a clean environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pegasus_testkit.audio import synthesize_speech
from pegasus_testkit.lectures import SPOKEN_TEXT
from pegasus_testkit.ports import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "wheel-install-admin-password"

#: Files the installed package reads at run time (besides modules), found with
#: importlib.resources; the wheel must hold each.
PACKAGE_DATA = (
    "pegasus/py.typed",
    "pegasus/migrations/env.py",
    "pegasus/migrations/script.py.mako",
    "pegasus/observability/slo.yaml",
    "pegasus/web/templates/base.html",
    "pegasus/web/templates/ops.html",
    "pegasus/web/static/css/app.css",
    "pegasus/web/static/manifest.webmanifest",
)


@dataclass(frozen=True)
class Installed:
    """A venv with the wheel installed, and a working directory outside the repository."""

    venv: Path
    work: Path
    env: dict[str, str]

    @property
    def pegasus(self) -> Path:
        return self.venv / "bin" / "pegasus"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.pegasus), *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _copy_sources(dest: Path) -> Path:
    """What the wheel is built from, without build leftovers (a stale ``build/`` would
    otherwise put deleted modules into the wheel)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(
        REPO / "src",
        dest / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    return dest


def build_wheel(out: Path) -> Path:
    """Build the project's wheel into ``out`` and return its path."""
    sources = _copy_sources(out / "sources")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(out / "dist"),
            str(sources),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (out / "dist").glob("pegasus-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies, without the dev venv's .pth files (the editable pegasus among them).
    (site / "dev_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    work = root / "work"
    work.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(root),
        "PEGASUS_DATABASE_URL": f"sqlite:///{root / 'pegasus.db'}",
        "PEGASUS_STORAGE_ROOT": str(root / "objects"),
        "PEGASUS_QUEUE_URL": f"sqlite:///{root / 'queue.db'}",
        "PEGASUS_LOG_LEVEL": "WARNING",
    }
    return Installed(venv=venv, work=work, env=env)


def test_the_wheel_holds_the_files_the_package_reads(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = [name for name in PACKAGE_DATA if name not in names]
    assert not missing, f"not in {wheel.name}: {missing}"
    revisions = sorted(n for n in names if n.startswith("pegasus/migrations/versions/"))
    shipped = sorted(
        f"pegasus/migrations/versions/{p.name}"
        for p in (REPO / "src/pegasus/migrations/versions").glob("*.py")
    )
    assert revisions == shipped


def test_the_installed_package_is_imported_not_the_repository(installed: Installed) -> None:
    probe = subprocess.run(
        [
            str(installed.venv / "bin" / "python"),
            "-c",
            "import json, sys, pegasus; print(json.dumps([pegasus.__file__, sys.path]))",
        ],
        cwd=installed.work,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, path = json.loads(probe.stdout)
    assert Path(module_file).is_relative_to(installed.venv), module_file
    assert not [entry for entry in path if entry and Path(entry).is_relative_to(REPO / "src")]


def test_installed_pegasus_migrates_serves_and_renders_ops(installed: Installed) -> None:
    upgraded = installed.run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database is up to date" in upgraded.stdout
    password_file = installed.work / "password"
    password_file.write_text(PASSWORD, encoding="utf-8")
    created = installed.run(
        "users", "create", "ops@example.org", "--admin", "--password-file", str(password_file)
    )
    assert created.returncode == 0, created.stderr
    token = installed.run("tokens", "create", "ops@example.org")
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()

    port = free_port()
    log = installed.work / "serve.log"
    with log.open("w", encoding="utf-8") as log_file:
        server = subprocess.Popen(
            [str(installed.pegasus), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=installed.work,
            env=installed.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        ready = _wait_ready(f"{base}/readyz", server, log)
        assert ready.status_code == 200, ready.text
        with httpx.Client(base_url=base, timeout=30) as client:
            ops = client.get("/ops", headers={"Authorization": f"Bearer {secret}"})
            css = client.get("/static/css/app.css")
            anonymous = client.get("/ops")
        assert ops.status_code == 200, ops.text[:500]
        assert "Pegasus · operations" in ops.text
        # The SLO table comes from the slo.yaml shipped in the package.
        for name in ("ingest-success", "generation-success", "processing-time"):
            assert f'data-slo="{name}"' in ops.text
        assert css.status_code == 200
        assert anonymous.status_code in (401, 303, 307)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_installed_pegasus_processes_a_short_clip(installed: Installed) -> None:
    clip = synthesize_speech(SPOKEN_TEXT, installed.work / "clip.wav", fmt="wav")
    out = installed.work / "out"
    result = installed.run("process", str(clip), "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    markdown = (out / "clip.md").read_text(encoding="utf-8").lower()
    assert "photosynthesis" in markdown
    assert (out / "clip.pdf").read_bytes().startswith(b"%PDF")


def _wait_ready(
    url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = log.read_text(encoding="utf-8", errors="replace")
            pytest.fail(f"pegasus serve exited {server.returncode}:\n{output[-3000:]}")
        try:
            last = httpx.get(url, timeout=5)
            if last.status_code == 200:
                return last
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    assert last is not None, f"{url} never answered"
    return last
