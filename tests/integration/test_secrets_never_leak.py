"""No secret Pegasus is given ever comes out of it.

One scaled deployment (PostgreSQL, S3, Redis, a separate worker, an OpenAI-compatible LLM)
runs with recognizable secrets: the database URL's password (PostgreSQL here trusts local
connections, so any password works), the S3 secret key and the alert webhook secret (as
``*_FILE`` paths), the LLM API key, an admin's password and API token. It runs the pipeline
through an LLM error that quotes the key back, signs in and fails to sign in, posts alerts
with the right and a wrong secret, asks for pages and API resources with secrets in their
query strings, then searches every output for every secret: each process's log (at DEBUG),
every response body and header it got, ``/metrics``, ``pegasus config show`` and the CLI's
output, the learner's pages.

Each secret holds a run of letters and digits that JSON, percent-encoding and HTML escaping
leave as they are, so finding that core finds those forms; base64 forms are found by
decoding every base64-looking run of the output.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import redis

from pegasus_testkit.cli import PEGASUS, clean_env
from pegasus_testkit.databases import POSTGRES_URL_PREFIX, TEMPLATES
from pegasus_testkit.deployment import REDIS_URL, Deployment, fast_queue_env, running
from pegasus_testkit.fake_llm import FakeLlm, Reply, running_fake_llm
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

#: Each secret's core (letters and digits, unique) and the secret around it: characters that
#: JSON, URLs and HTML escape, so a leak in any of those forms still shows the core.
SECRETS: dict[str, tuple[str, str]] = {
    "database password": ("dbpwQ7vX2core", 'dbpwQ7vX2core /"&+é%'),
    "S3 secret key": ("s3skK4wP9core", 's3skK4wP9core/"&+=é'),
    "LLM API key": ("llmkM3tR8core", 'sk-llmkM3tR8core/"&+='),
    "alert webhook secret": ("hookZ5nB1core", 'hookZ5nB1core/"&+=~'),
    "previous alert webhook secret": ("hookoldJ2core", 'hookoldJ2core/"&+=~'),
    "admin password": ("pwordH6yL0core", 'pwordH6yL0core "&+/<é>'),
}
ADMIN = "admin-secrets@example.org"
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")


def secret(label: str) -> str:
    return SECRETS[label][1]


def leaks(text: str, cores: dict[str, str]) -> list[str]:
    """``label (how)`` for each core found in ``text`` as it is or inside decoded base64."""
    found = [f"{label} (as text)" for label, core in cores.items() if core in text]
    for run in _BASE64_RUN.findall(text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            for start in range(4):  # the secret may start anywhere in the encoded bytes
                chunk = run[start:]
                chunk = chunk[: len(chunk) - len(chunk) % 4]
                with contextlib.suppress(binascii.Error, ValueError):
                    decoded = decode(chunk).decode("utf-8", errors="replace")
                    found += [
                        f"{label} (base64)" for label, core in cores.items() if core in decoded
                    ]
    return sorted(set(found))


@dataclass
class Exercised:
    """What the scenario did and everything that came out of Pegasus while it did."""

    outputs: dict[str, str] = field(default_factory=dict)
    token: str = ""
    statuses: dict[str, int] = field(default_factory=dict)
    lecture: dict[str, Any] = field(default_factory=dict)
    failed_lecture: dict[str, Any] = field(default_factory=dict)
    llm_headers: list[str] = field(default_factory=list)
    llm_error_echoed: bool = False

    def record(self, label: str, response: httpx.Response) -> httpx.Response:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.outputs[f"response {label}"] = f"{response.status_code}\n{headers}\n{response.text}"
        self.statuses[label] = response.status_code
        return response

    def cores(self) -> dict[str, str]:
        cores = {label: core for label, (core, _) in SECRETS.items()}
        cores["API token"] = self.token.removeprefix("pgs_")
        return cores


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEGASUS, *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli_output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def alert_payload() -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "pegasus",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "PegasusStageFailing", "severity": "page"},
                "annotations": {"summary": "a stage is failing"},
                "startsAt": "2026-12-07T05:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "secretsleak01",
            }
        ],
    }


def wait_for(client: httpx.Client, lecture_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        lecture: dict[str, Any] = client.get(f"/api/v1/lectures/{lecture_id}").json()
        if lecture["status"] in statuses or time.monotonic() > deadline:
            return lecture
        time.sleep(0.5)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', page)
    assert match, page[:2000]
    return match[1]


@contextlib.contextmanager
def secret_deployment(
    root: Path, s3_endpoint: str, fake: FakeLlm
) -> Iterator[tuple[Deployment, dict[str, str]]]:
    database_url = TEMPLATES.postgresql()
    password = quote(secret("database password"), safe="")
    with_password = database_url.replace(
        POSTGRES_URL_PREFIX, POSTGRES_URL_PREFIX.replace("postgres@", f"postgres:{password}@"), 1
    )
    assert with_password != database_url
    files = root / "secrets"
    files.mkdir()
    (files / "s3").write_text(secret("S3 secret key") + "\n", encoding="utf-8")
    (files / "webhook").write_text(secret("alert webhook secret") + "\n", encoding="utf-8")
    queue_name = f"pegasus-test-{uuid.uuid4().hex[:8]}"
    env = {
        "PEGASUS_DATABASE_URL": with_password,
        "PEGASUS_STORAGE_BACKEND": "s3",
        "PEGASUS_STORAGE_S3_ENDPOINT_URL": s3_endpoint,
        "PEGASUS_STORAGE_S3_BUCKET": f"pegasus-{uuid.uuid4().hex[:8]}",
        "PEGASUS_STORAGE_S3_CREATE_BUCKET": "true",
        "PEGASUS_STORAGE_S3_ACCESS_KEY_ID": "testing",
        "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE": str(files / "s3"),
        "PEGASUS_QUEUE_URL": REDIS_URL,
        "PEGASUS_QUEUE_NAME": queue_name,
        "PEGASUS_SERVER_RUN_CONSUMER": "false",
        "PEGASUS_METRICS_MULTIPROC_DIR": str(root / "metrics"),
        "PEGASUS_LLM_BASE_URL": fake.url,
        "PEGASUS_LLM_MODEL": "fake",
        "PEGASUS_LLM_API_KEY": secret("LLM API key"),
        "PEGASUS_OPS_ALERT_WEBHOOK_SECRET_FILE": str(files / "webhook"),
        "PEGASUS_OPS_ALERT_WEBHOOK_SECRET_PREVIOUS": secret("previous alert webhook secret"),
        **fast_queue_env(),
        "PEGASUS_LOG_LEVEL": "DEBUG",
    }
    deployment = Deployment(name="secrets", env=env, workdir=root, database_url=database_url)
    try:
        with running(deployment, workers=1, migrate=False):
            yield deployment, env
    finally:
        TEMPLATES.drop(database_url)
        client = redis.Redis.from_url(REDIS_URL)
        try:
            for key in client.scan_iter(f"*{queue_name}*"):
                client.delete(key)
        finally:
            client.close()


@pytest.fixture(scope="module")
def exercised(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, recordings: Recordings
) -> Exercised:
    root = tmp_path_factory.mktemp("secrets")
    seen = Exercised()
    with (
        running_fake_llm() as fake,
        secret_deployment(root, s3_endpoint, fake) as (
            deployment,
            env,
        ),
    ):
        password_file = root / "admin-password"
        password_file.write_text(secret("admin password"), encoding="utf-8")
        seen.outputs["cli db upgrade"] = cli_output(cli(env, "db", "upgrade"))
        seen.outputs["cli users create"] = cli_output(
            cli(env, "users", "create", ADMIN, "--admin", "--password-file", str(password_file))
        )
        made = cli(env, "tokens", "create", ADMIN)
        assert made.returncode == 0, cli_output(made)
        seen.token = made.stdout.strip().split()[-1]  # printed once, on purpose: not scanned
        seen.outputs["cli tokens create (stderr)"] = made.stderr
        seen.outputs["cli tokens list"] = cli_output(cli(env, "tokens", "list"))
        seen.outputs["cli config show"] = cli_output(cli(env, "config", "show"))
        seen.outputs["cli config show --env"] = cli_output(cli(env, "config", "show", "--env"))

        api = httpx.Client(
            base_url=deployment.base_url,
            headers={"Authorization": f"Bearer {seen.token}"},
            timeout=60,
        )
        anonymous = httpx.Client(base_url=deployment.base_url, timeout=60)
        browser = httpx.Client(base_url=deployment.base_url, timeout=60)
        with api, anonymous, browser:
            course = seen.record("create course", api.post("/api/v1/courses", json={"name": "S"}))
            course_id = course.json()["id"]

            # The LLM's first answer is an error quoting the key back (raw, percent-encoded,
            # base64): the lecture fails on it, then a retry succeeds.
            fake.script(Reply.key_echoed(401))
            with recordings.lecture_m4a.open("rb") as audio:
                accepted = seen.record(
                    "upload",
                    api.post(
                        f"/api/v1/courses/{course_id}/lectures",
                        files={"file": ("lecture.m4a", audio, "audio/mp4")},
                        data={"preset": "quick-review", "title": "Secrets"},
                    ),
                )
            lecture_id = accepted.json()["id"]
            seen.failed_lecture = wait_for(api, lecture_id, ("succeeded", "failed"))
            seen.record("failed lecture", api.get(f"/api/v1/lectures/{lecture_id}"))
            seen.record("failed lecture list", api.get(f"/api/v1/courses/{course_id}/lectures"))
            seen.record("retry", api.post(f"/api/v1/lectures/{lecture_id}/retry"))
            seen.lecture = wait_for(api, lecture_id, ("succeeded", "failed"))
            seen.llm_headers = [r.headers.get("authorization", "") for r in fake.requests]
            seen.llm_error_echoed = True  # Reply.key_echoed was scripted for the first call

            # Error bodies: wrong and malformed credentials, secrets in query strings.
            token, hook = seen.token, secret("alert webhook secret")
            seen.record(
                "wrong token",
                anonymous.get("/api/v1/courses", headers={"Authorization": f"Bearer {token}x"}),
            )
            seen.record(
                "token in the query",
                anonymous.get("/api/v1/courses", params={"access_token": token}),
            )
            seen.record(
                "secrets in a 404's query",
                anonymous.get(
                    "/api/v1/nowhere",
                    params={
                        "password": secret("admin password"),
                        "api_key": secret("LLM API key"),
                        "secret": hook,
                    },
                ),
            )
            seen.record(
                "webhook, right secret",
                anonymous.post(
                    "/api/v1/ops/alerts",
                    json=alert_payload(),
                    headers={"Authorization": f"Bearer {hook}"},
                ),
            )
            seen.record(
                "webhook, previous secret",
                anonymous.post(
                    "/api/v1/ops/alerts",
                    json=alert_payload(),
                    headers={"Authorization": f"Bearer {secret('previous alert webhook secret')}"},
                ),
            )
            seen.record(
                "webhook, wrong secret",
                anonymous.post(
                    "/api/v1/ops/alerts",
                    json=alert_payload(),
                    headers={"Authorization": f"Bearer {hook}-wrong"},
                ),
            )
            seen.record(
                "webhook, bad body",
                anonymous.post(
                    "/api/v1/ops/alerts",
                    json={"alerts": [{"secret": hook}]},
                    headers={"Authorization": f"Bearer {hook}"},
                ),
            )

            # The browser: a failed sign-in (the form must not give the password back),
            # then a real one and every page a signed-in admin sees.
            login = seen.record("login page", browser.get("/login"))
            seen.record(
                "login, wrong password",
                browser.post(
                    "/login",
                    data={
                        "email": ADMIN,
                        "password": secret("admin password") + "!",
                        "csrf_token": csrf_of(login.text),
                        "next": "/",
                    },
                ),
            )
            login = browser.get("/login")
            signed_in = seen.record(
                "login",
                browser.post(
                    "/login",
                    data={
                        "email": ADMIN,
                        "password": secret("admin password"),
                        "csrf_token": csrf_of(login.text),
                        "next": "/",
                    },
                ),
            )
            assert signed_in.status_code == 303, signed_in.text
            for path in (
                "/",
                "/courses",
                f"/courses/{course_id}",
                f"/lectures/{lecture_id}",
                f"/lectures/{lecture_id}/review",
                f"/lectures/{lecture_id}/study",
                "/account",
                "/ops",
                "/search?q=photosynthesis",
            ):
                seen.record(f"page {path}", browser.get(path))
            for path in (
                f"/api/v1/lectures/{lecture_id}",
                f"/api/v1/lectures/{lecture_id}/kit",
                "/api/v1/ops/summary",
                "/readyz",
                "/healthz",
            ):
                seen.record(f"api {path}", api.get(path))
            seen.record("metrics", anonymous.get("/metrics"))
        # Stop the processes and read their whole output, shutdown included (their log
        # files are closed when the deployment stops).
        for process in deployment.processes:
            process.terminate()
        for process in deployment.processes:
            process.process.wait(timeout=30)
            seen.outputs[f"log {process.name}"] = process.full_output()
    keep = os.environ.get("PEGASUS_TEST_SECRETS_DUMP")  # a folder: read what was searched
    if keep:
        for number, (label, text) in enumerate(sorted(seen.outputs.items())):
            name = re.sub(r"[^A-Za-z0-9.-]+", "_", label)[:80]
            (Path(keep) / f"{number:02d}-{name}.txt").write_text(text, encoding="utf-8")
    return seen


def leaks_in(seen: Exercised, prefix: str) -> dict[str, list[str]]:
    chosen = {k: v for k, v in seen.outputs.items() if k.startswith(prefix)}
    assert chosen, f"nothing recorded under {prefix!r}"
    found = {label: leaks(text, seen.cores()) for label, text in chosen.items()}
    return {label: hits for label, hits in found.items() if hits}


def test_the_scenario_used_every_secret(exercised: Exercised) -> None:
    # The key went to the LLM, the first call was refused and quoted it, the retry worked.
    assert exercised.llm_headers
    assert all(h == f"Bearer {secret('LLM API key')}" for h in exercised.llm_headers)
    assert exercised.llm_error_echoed
    assert exercised.failed_lecture["status"] == "failed", exercised.failed_lecture
    assert exercised.lecture["status"] == "succeeded", exercised.lecture
    # The webhook admitted its secret and refused a wrong one; the admin signed in.
    assert exercised.statuses["webhook, right secret"] == 200
    assert exercised.statuses["webhook, wrong secret"] == 401
    assert exercised.statuses["login, wrong password"] >= 400
    assert exercised.statuses["login"] == 303
    assert exercised.statuses["metrics"] == 200
    assert exercised.statuses["page /ops"] == 200
    assert exercised.token.startswith("pgs_")


def test_no_secret_in_any_process_log(exercised: Exercised) -> None:
    assert leaks_in(exercised, "log ") == {}


def test_no_secret_in_the_cli_output_or_config_show(exercised: Exercised) -> None:
    assert leaks_in(exercised, "cli ") == {}


def test_no_secret_in_error_bodies(exercised: Exercised) -> None:
    errors = {
        label: text
        for label, text in exercised.outputs.items()
        if label.startswith("response ") and exercised.statuses[label[9:]] >= 400
    }
    assert len(errors) >= 5
    assert {label: leaks(text, exercised.cores()) for label, text in errors.items()} == {
        label: [] for label in errors
    }


def test_no_secret_in_the_learner_pages_or_the_api(exercised: Exercised) -> None:
    assert leaks_in(exercised, "response page ") == {}
    assert leaks_in(exercised, "response api ") == {}
    assert leaks_in(exercised, "response failed lecture") == {}
    assert leaks_in(exercised, "response login") == {}


def test_no_secret_in_metrics(exercised: Exercised) -> None:
    assert "pegasus_" in exercised.outputs["response metrics"]
    assert leaks_in(exercised, "response metrics") == {}


def test_the_previous_webhook_secret_is_accepted_during_a_rotation(exercised: Exercised) -> None:
    assert exercised.statuses["webhook, previous secret"] == 200


@pytest.mark.parametrize(
    "form",
    [
        lambda s: s,
        lambda s: s.replace('"', '\\"'),
        lambda s: quote(s, safe=""),
        lambda s: quote_plus(s),
        lambda s: s.replace("&", "&amp;").replace('"', "&quot;"),
        lambda s: base64.b64encode(f"user:{s}".encode()).decode(),
        lambda s: base64.urlsafe_b64encode(f"xy{s}".encode()).decode(),
    ],
)
def test_the_search_finds_each_form_of_a_secret(form: Any) -> None:
    cores = {label: core for label, (core, _) in SECRETS.items()}
    text = f"before {form(secret('LLM API key'))} after"

    assert leaks(text, cores) in (["LLM API key (as text)"], ["LLM API key (base64)"])


def test_a_refused_secret_is_not_echoed_at_start_up(tmp_path: Path) -> None:
    bad_key = "sk-startupZ8core-é"  # not ASCII: refused, it cannot go in a header
    placeholder_url = "postgresql+psycopg://pegasus:changethis@127.0.0.1:9/pegasus"
    for env, field_name in (
        ({"PEGASUS_LLM_API_KEY": bad_key}, "llm.api_key"),
        ({"PEGASUS_DATABASE_URL": placeholder_url}, "database.url"),
        ({"PEGASUS_QUEUE_URL": "redis://:ChangeMe@127.0.0.1:9/0"}, "queue.url"),
        ({"PEGASUS_OPS_ALERT_WEBHOOK_SECRET": "example"}, "ops.alert_webhook_secret"),
        ({"PEGASUS_OPS_ALERT_WEBHOOK_SECRET": " "}, "ops.alert_webhook_secret"),
        ({"PEGASUS_OPS_ALERT_WEBHOOK_SECRET_PREVIOUS": "hookonlyW3core"}, "ops"),
    ):
        done = cli(env, "config", "show")
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert "Configuration error" in output
        assert field_name in output
        assert "startupZ8core" not in output
        assert "hookonlyW3core" not in output
        assert "ChangeMe" not in output


def test_an_unreachable_database_error_does_not_show_its_password() -> None:
    password = "unreachV4core/&+"
    url = f"postgresql+psycopg://pegasus:{quote(password, safe='')}@127.0.0.1:9/pegasus"

    done = cli({"PEGASUS_DATABASE_URL": url}, "db", "upgrade")

    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "unreachV4core" not in output
