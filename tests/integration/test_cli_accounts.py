"""`pegasus users create` and `pegasus tokens create` make a user and a token that signs in.

The end-to-end tests make their users in-process (``Deployment.create_user``), so the CLI
commands an operator uses are checked here, as real subprocesses.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from pegasus.accounts.security import verify_password
from pegasus.accounts.service import authenticate_token
from pegasus.config import DatabaseSettings
from pegasus.db.base import utcnow
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus_testkit.cli import run_cli


def test_users_create_and_tokens_create(sqlite_url: str, tmp_path: Path) -> None:
    env = {
        "PEGASUS_DATABASE_URL": sqlite_url,
        "PEGASUS_STORAGE_ROOT": str(tmp_path / "objects"),
        "PEGASUS_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
    }
    password_file = tmp_path / "password"
    password_file.write_text("a long enough password\n", encoding="utf-8")
    created = run_cli(
        env, "users", "create", "Ops@Example.org", "--admin", "--password-file", str(password_file)
    )
    assert "created admin ops@example.org" in created
    token = run_cli(env, "tokens", "create", "ops@example.org").strip()
    engine = build_engine(DatabaseSettings(url=SecretStr(sqlite_url)))
    try:
        with unit_of_work(build_session_factory(engine)) as session:
            user = authenticate_token(session, token, now=utcnow())
            assert (user.email, user.is_admin) == ("ops@example.org", True)
            assert verify_password(user.password_hash, "a long enough password")
    finally:
        engine.dispose()
