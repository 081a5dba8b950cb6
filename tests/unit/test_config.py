"""Settings: nested PEGASUS_ variables, *_FILE secrets, placeholders, redaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from pegasus.config import ENV_PREFIX, LlmSettings, Settings, env_var_names

SettingsFromEnv = Callable[[dict[str, str]], Settings]


@pytest.fixture
def settings_from_env(monkeypatch: pytest.MonkeyPatch) -> SettingsFromEnv:
    """Settings read from exactly ``env`` (every other PEGASUS_ variable removed)."""

    def build(env: dict[str, str]) -> Settings:
        for name in list(os.environ):
            if name.upper().startswith(ENV_PREFIX):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return Settings()

    return build


def test_nested_groups_read_from_prefixed_variables(settings_from_env: SettingsFromEnv) -> None:
    settings = settings_from_env(
        {
            "PEGASUS_DATABASE_URL": "postgresql+psycopg://u:pw@db/pegasus",
            "PEGASUS_QUEUE_URL": "redis://127.0.0.1:6379/2",
            "PEGASUS_QUEUE_LEASE_SECONDS": "7.5",
            "PEGASUS_STORAGE_S3_BUCKET": "lectures",
            "PEGASUS_MEDIA_MAX_UPLOAD_BYTES": "1000",
        }
    )
    assert settings.queue.is_redis
    assert settings.queue.lease_seconds == 7.5
    assert settings.storage.s3_bucket == "lectures"
    assert settings.media.max_upload_bytes == 1000
    assert not settings.database.is_sqlite


def test_defaults_are_the_embedded_column(settings_from_env: SettingsFromEnv) -> None:
    settings = settings_from_env({})
    assert settings.database.is_sqlite
    assert settings.storage.backend == "local"
    assert settings.queue.url.startswith("sqlite:///")
    assert settings.server.run_consumer


def test_secret_from_file(tmp_path: Path, settings_from_env: SettingsFromEnv) -> None:
    secret = tmp_path / "s3-secret"
    secret.write_text("  s3cr3t-value\n", encoding="utf-8")
    settings = settings_from_env({"PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE": str(secret)})
    assert settings.storage.s3_secret_access_key is not None
    assert settings.storage.s3_secret_access_key.get_secret_value() == "s3cr3t-value"


def test_explicit_value_wins_over_file(tmp_path: Path, settings_from_env: SettingsFromEnv) -> None:
    secret = tmp_path / "s"
    secret.write_text("from-file", encoding="utf-8")
    settings = settings_from_env(
        {
            "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY": "from-env",
            "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE": str(secret),
        }
    )
    assert settings.storage.s3_secret_access_key is not None
    assert settings.storage.s3_secret_access_key.get_secret_value() == "from-env"


def test_unreadable_secret_file_is_a_clear_error(
    tmp_path: Path, settings_from_env: SettingsFromEnv
) -> None:
    with pytest.raises(ValueError, match="PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE"):
        settings_from_env({"PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE": str(tmp_path / "missing")})


def test_placeholder_secret_is_refused(settings_from_env: SettingsFromEnv) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        settings_from_env({"PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY": "changethis"})


def test_redacted_hides_secrets_and_database_password(settings_from_env: SettingsFromEnv) -> None:
    settings = settings_from_env(
        {
            "PEGASUS_DATABASE_URL": "postgresql+psycopg://pegasus:hunter22@db:5432/pegasus",
            "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY": "very-secret-key",
        }
    )
    shown = json.dumps(settings.redacted())
    assert "hunter22" not in shown
    assert "very-secret-key" not in shown
    assert "postgresql+psycopg://pegasus:***@db:5432/pegasus" in shown
    assert settings.redacted()["storage"]["s3_secret_access_key"] == "**********"


def test_redacted_hides_passwords_in_every_url(settings_from_env: SettingsFromEnv) -> None:
    settings = settings_from_env(
        {
            "PEGASUS_QUEUE_URL": "redis://:hunter2pass@redis:6379/0",
            "PEGASUS_STORAGE_S3_ENDPOINT_URL": "http://user:minio-pass@minio:9000",
        }
    )
    shown = json.dumps(settings.redacted())
    assert "hunter2pass" not in shown
    assert "minio-pass" not in shown
    assert "redis://:***@redis:6379/0" in shown


def test_every_field_has_a_documented_variable() -> None:
    names = dict(env_var_names())
    assert "PEGASUS_QUEUE_URL" in names
    assert "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY" in names
    undocumented = [n for n, info in names.items() if not info.description]
    assert undocumented == []


def test_config_show_cli_redacts(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PEGASUS_DATABASE_URL": "postgresql+psycopg://pegasus:hunter22@db/pegasus",
        "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY": "very-secret-key",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pegasus", "config", "show"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    shown = json.loads(result.stdout)
    assert shown["storage"]["s3_secret_access_key"] == "**********"
    assert "hunter22" not in result.stdout
    assert "very-secret-key" not in result.stdout + result.stderr


def test_config_show_cli_masks_secret_query_parameters(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PEGASUS_DATABASE_URL": (
            "postgresql+psycopg://db/pegasus?user=app&password=qs-hunter22&sslpassword=ssl-pw-9"
        ),
        "PEGASUS_QUEUE_URL": "redis://redis:6379/0?token=tok-77&db=1",
        "PEGASUS_LLM_BASE_URL": "https://llm.example/v1?api_key=sk-qs-1&secret=s3cr3t-x",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pegasus", "config", "show"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    shown = json.loads(result.stdout)
    for secret in ("qs-hunter22", "ssl-pw-9", "tok-77", "sk-qs-1", "s3cr3t-x"):
        assert secret not in result.stdout + result.stderr
    assert shown["queue"]["url"] == "redis://redis:6379/0?token=***&db=1"
    assert shown["llm"]["base_url"] == "https://llm.example/v1?api_key=***&secret=***"
    assert "user=app&password=***&sslpassword=***" in shown["database"]["url"]


def test_an_llm_key_that_cannot_go_in_a_header_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="printable ASCII"):
        LlmSettings(api_key=SecretStr("clé-secrète"))
    assert LlmSettings(api_key=SecretStr("sk-ascii-key")).api_key is not None
