"""The audit log on both databases: what the account services record (through the web app
and the API, in the same transaction as the action), that no entry holds an email, that
`pegasus audit verify` (run as a real process) passes an intact chain and names the first
broken link after a row is altered, a middle row deleted or the newest row deleted, the
admin API over it, and that concurrent appends make one unbroken chain."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from pegasus.accounts.service import create_token
from pegasus.app import create_app
from pegasus.audit import actions, record, verify_chain
from pegasus.audit.chain import EntryContent, entry_hash
from pegasus.config import (
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.db.models import AuditChainHead, AuditEvent, User
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.runtime import build_runtime
from pegasus_testkit.cli import PEGASUS, clean_env
from tests.factories import BACKENDS, PASSWORD, make_user

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
LEARNER = "audited-learner@example.org"
ADMIN = "audit-admin@example.org"
WRONG = "not the password at all"


@dataclass
class World:
    """An app on a fresh database with an admin and a learner (and their tokens)."""

    url: str
    client: TestClient
    factory: sessionmaker[Session]
    admin_id: str
    learner_id: str
    admin_auth: dict[str, str]
    learner_auth: dict[str, str]


@pytest.fixture(params=BACKENDS)
def world(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[World]:
    url = new_database(request.param)
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'q.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    runtime = build_runtime(settings)
    with unit_of_work(runtime.session_factory) as session:
        admin = make_user(session, ADMIN, admin=True)
        learner = make_user(session, LEARNER)
        admin_auth = {"Authorization": f"Bearer {create_token(session, ADMIN)}"}
        learner_auth = {"Authorization": f"Bearer {create_token(session, LEARNER)}"}
    with TestClient(create_app(settings, runtime)) as client:
        yield World(
            url,
            client,
            runtime.session_factory,
            admin.id,
            learner.id,
            admin_auth,
            learner_auth,
        )


def entries(factory: sessionmaker[Session]) -> list[AuditEvent]:
    with unit_of_work(factory) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def newest(factory: sessionmaker[Session], action: str) -> AuditEvent:
    found = [e for e in entries(factory) if e.action == action]
    assert found, f"no {action} entry"
    return found[-1]


def log_in(client: TestClient, email: str, password: str) -> int:
    """Post the log-in form (with the anonymous CSRF token, from the form or its cookie)."""
    token = client.cookies.get("pegasus_csrf")
    if token is None:
        form = client.get("/login")
        found = CSRF_FIELD.search(form.text)
        assert found, form.text
        token = found.group(1)
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=data, follow_redirects=False).status_code


def row_text(event: AuditEvent) -> str:
    return json.dumps(
        [
            event.action,
            event.actor_id,
            event.subject_type,
            event.subject_id,
            event.details,
            event.prev_hash,
            event.hash,
        ]
    )


def test_account_actions_are_recorded_with_ids_and_never_an_email(world: World) -> None:
    client, factory = world.client, world.factory
    # the set-up went through the services too: two users and two tokens, by the operator
    created = [e for e in entries(factory) if e.action == actions.USER_CREATED]
    assert [(e.actor_id, e.subject_id) for e in created] == [
        (None, world.admin_id),
        (None, world.learner_id),
    ]
    assert created[0].details == {"via": "operator", "invitation_id": None, "is_admin": True}

    # a sign-in, through the log-in form
    assert log_in(client, LEARNER, PASSWORD) == 303
    signed_in = newest(factory, actions.SIGN_IN)
    assert (signed_in.actor_id, signed_in.subject_type, signed_in.subject_id) == (
        world.learner_id,
        "user",
        world.learner_id,
    )
    client.cookies.clear()

    # a failed sign-in of an account: the account's id, not the email it was tried with
    assert log_in(client, LEARNER, WRONG) == 401
    failed = newest(factory, actions.SIGN_IN_FAILED)
    assert (failed.actor_id, failed.subject_type, failed.subject_id) == (
        world.learner_id,
        "user",
        world.learner_id,
    )
    assert failed.details == {"reason": "wrong_password"}
    # an unknown email: an anonymous account, nothing that names it
    assert log_in(client, "nobody-here@example.org", WRONG) == 401
    unknown = newest(factory, actions.SIGN_IN_FAILED)
    assert unknown.seq == failed.seq + 1
    assert (unknown.actor_id, unknown.subject_type, unknown.subject_id) == (None, "account", None)
    assert unknown.details == {"reason": "unknown_account"}

    # a token created and revoked through the API
    made = client.post(
        "/api/v1/tokens",
        json={"name": "lab script", "expires_in_days": 7},
        headers=world.learner_auth,
    )
    assert made.status_code == 201, made.text
    token_id = made.json()["id"]
    created_token = newest(factory, actions.TOKEN_CREATED)
    assert (created_token.actor_id, created_token.subject_type, created_token.subject_id) == (
        world.learner_id,
        "token",
        token_id,
    )
    assert created_token.details == {"owner_id": world.learner_id, "expires_in_days": 7}
    assert (
        client.delete(f"/api/v1/tokens/{token_id}", headers=world.learner_auth).status_code == 204
    )
    revoked = newest(factory, actions.TOKEN_REVOKED)
    assert (revoked.actor_id, revoked.subject_id, revoked.details) == (
        world.learner_id,
        token_id,
        {"owner_id": world.learner_id},
    )

    # an admin disables the learner, then enables them again
    disabled = client.post(f"/api/v1/users/{world.learner_id}/disable", headers=world.admin_auth)
    assert disabled.status_code == 200, disabled.text
    entry = newest(factory, actions.USER_DISABLED)
    assert (entry.actor_id, entry.subject_type, entry.subject_id) == (
        world.admin_id,
        "user",
        world.learner_id,
    )
    assert entry.details == {"sessions_ended": 1}  # the browser session signed in above
    # the disabled account's right password: a failure, recorded though the answer is 403
    assert log_in(client, LEARNER, PASSWORD) == 403
    assert newest(factory, actions.SIGN_IN_FAILED).details == {"reason": "account_disabled"}
    enabled = client.post(f"/api/v1/users/{world.learner_id}/enable", headers=world.admin_auth)
    assert enabled.status_code == 200, enabled.text
    entry = newest(factory, actions.USER_ENABLED)
    assert (entry.actor_id, entry.subject_id) == (world.admin_id, world.learner_id)

    # no entry holds an email (or any "@"), and the chain is intact
    everything = entries(factory)
    assert [e.seq for e in everything] == list(range(1, len(everything) + 1))
    for event in everything:
        assert "@" not in row_text(event), row_text(event)
        assert "example.org" not in row_text(event)
    with unit_of_work(factory) as session:
        report = verify_chain(session)
    assert report.ok, report.reason
    assert report.checked == report.head_seq == len(everything)
    assert report.head_hash == everything[-1].hash


def client_post(world: World, path: str) -> Any:
    return world.client.post(path, headers=world.admin_auth)


def session_token(client: TestClient) -> str:
    found = CSRF_META.search(client.get("/account").text)
    assert found
    return found.group(1)


def test_signing_out_ending_sessions_and_changing_the_password_are_recorded(
    world: World,
) -> None:
    laptop, phone = world.client, TestClient(world.client.app)
    assert log_in(laptop, LEARNER, PASSWORD) == 303
    assert log_in(phone, LEARNER, PASSWORD) == 303
    # signing in again in the same browser replaces its session
    assert log_in(laptop, LEARNER, PASSWORD) == 303
    replaced = newest(world.factory, actions.SIGN_OUT)
    assert (replaced.actor_id, replaced.details) == (world.learner_id, {"reason": "replaced"})

    new_password = "a brand new passphrase"
    changed = laptop.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": new_password,
            "new_password_confirm": new_password,
            "csrf_token": session_token(laptop),
        },
    )
    assert changed.status_code == 200, changed.text
    entry = newest(world.factory, actions.PASSWORD_CHANGED)
    assert (entry.actor_id, entry.subject_id) == (world.learner_id, world.learner_id)
    assert entry.details == {"other_sessions_ended": 1}  # the phone

    assert log_in(phone, LEARNER, new_password) == 303
    ended = laptop.post("/account/sessions/end-others", data={"csrf_token": session_token(laptop)})
    assert ended.status_code == 200, ended.text
    entry = newest(world.factory, actions.SESSION_ENDED)
    assert (entry.actor_id, entry.details) == (world.learner_id, {"scope": "others", "ended": 1})

    out = laptop.post("/logout", data={"csrf_token": session_token(laptop)}, follow_redirects=False)
    assert out.status_code == 303
    entry = newest(world.factory, actions.SIGN_OUT)
    assert (entry.actor_id, entry.details) == (world.learner_id, {"reason": "signed_out"})
    for event in entries(world.factory):
        assert "@" not in row_text(event)


def test_a_rolled_back_action_leaves_no_entry(world: World) -> None:
    before = len(entries(world.factory))
    # the admin's own account: refused (409), and the unit of work rolls back
    refused = client_post(world, f"/api/v1/users/{world.admin_id}/disable")
    assert refused.status_code == 409
    assert len(entries(world.factory)) == before

    def fails_after_appending() -> None:
        with unit_of_work(world.factory) as session:
            record(
                session, actions.USER_ENABLED, actor_id=None, subject_type="user", subject_id="x"
            )
            raise RuntimeError("the action failed after its entry was appended")

    with pytest.raises(RuntimeError):
        fails_after_appending()
    assert len(entries(world.factory)) == before
    with unit_of_work(world.factory) as session:
        assert verify_chain(session).ok


def test_a_deleted_user_cannot_be_enabled(world: World) -> None:
    with unit_of_work(world.factory) as session:
        learner = session.get(User, world.learner_id)
        assert learner is not None
        learner.disabled_at = learner.created_at
        learner.deleted_at = learner.created_at
    before = len(entries(world.factory))
    refused = client_post(world, f"/api/v1/users/{world.learner_id}/enable")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "user.deleted"
    assert len(entries(world.factory)) == before
    with unit_of_work(world.factory) as session:
        still = session.get(User, world.learner_id)
        assert still is not None
        assert still.disabled_at is not None


def test_the_users_page_shows_a_deleted_user_and_refuses_to_enable_them(world: World) -> None:
    with unit_of_work(world.factory) as session:
        learner = session.get(User, world.learner_id)
        assert learner is not None
        learner.disabled_at = learner.deleted_at = learner.created_at
    client = world.client
    assert log_in(client, ADMIN, PASSWORD) == 303
    page = client.get("/account/users")
    assert page.status_code == 200
    assert 'data-testid="deleted"' in page.text
    assert f"/account/users/{world.learner_id}/enable" not in page.text
    found = CSRF_META.search(page.text)
    assert found
    refused = client.post(
        f"/account/users/{world.learner_id}/enable", data={"csrf_token": found.group(1)}
    )
    assert refused.status_code == 409, refused.text
    assert "This account was deleted, so it cannot be enabled again." in refused.text
    assert newest(world.factory, actions.SIGN_IN).actor_id == world.admin_id
    assert not [e for e in entries(world.factory) if e.action == actions.USER_ENABLED]


def test_the_admin_api_lists_entries_and_verifies_the_chain(world: World) -> None:
    client = world.client
    assert client.get("/api/v1/audit/events", headers=world.learner_auth).status_code == 403
    assert client.get("/api/v1/audit/verify", headers=world.learner_auth).status_code == 403
    assert client.get("/api/v1/audit/verify").status_code == 401
    page = client.get("/api/v1/audit/events", params={"limit": 2}, headers=world.admin_auth)
    assert page.status_code == 200, page.text
    body = page.json()
    # newest first: the learner's token, then the learner
    assert [e["action"] for e in body["events"]] == [actions.TOKEN_CREATED, actions.TOKEN_CREATED]
    assert body["next_before_seq"] == body["events"][-1]["seq"]
    older = client.get(
        "/api/v1/audit/events",
        params={"before_seq": body["next_before_seq"], "action": actions.USER_CREATED},
        headers=world.admin_auth,
    ).json()
    assert [e["subject_id"] for e in older["events"]] == [world.learner_id, world.admin_id]
    assert older["next_before_seq"] is None
    verified = client.get("/api/v1/audit/verify", headers=world.admin_auth).json()
    assert verified["ok"] is True
    assert verified["checked"] == verified["head_seq"] == 4

    tamper(world.url, "UPDATE audit_events SET subject_id = 'someone-else' WHERE seq = 2")
    broken = client.get("/api/v1/audit/verify", headers=world.admin_auth).json()
    assert broken["ok"] is False
    assert broken["first_broken_seq"] == 2
    assert broken["reason"] == "entry 2 was altered: its hash does not match its contents"


# --- `pegasus audit verify`, a real process -----------------------------------------------


def tamper(url: str, statement: str) -> None:
    """Change the database behind the application's back, as an intruder would."""
    engine = build_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def verify_cli(url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEGASUS, "audit", "verify", *flags],
        env=clean_env({"PEGASUS_DATABASE_URL": url}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(params=BACKENDS)
def chained(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> str:
    """A fresh database whose audit log holds entries 1 to 6."""
    url = new_database(request.param)
    engine = build_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        with unit_of_work(build_session_factory(engine)) as session:
            for i in range(6):
                record(
                    session,
                    actions.USER_DISABLED,
                    actor_id=None,
                    subject_type="user",
                    subject_id=f"user-{i}",
                    details={"sessions_ended": i},
                )
    finally:
        engine.dispose()
    return url


def test_verify_passes_an_intact_chain(chained: str) -> None:
    done = verify_cli(chained)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: the chain is intact: 6 entries, the newest is entry 6")
    as_json = verify_cli(chained, "--json")
    assert as_json.returncode == 0
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["checked"], report["head_seq"]) == (True, 6, 6)


def test_verify_names_an_altered_entry(chained: str) -> None:
    tamper(chained, """UPDATE audit_events SET details = '{"sessions_ended": 99}' WHERE seq = 3""")
    done = verify_cli(chained)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN: entry 3 was altered: its hash does not match its contents" in done.stdout


def test_verify_names_a_deleted_middle_entry(chained: str) -> None:
    tamper(chained, "DELETE FROM audit_events WHERE seq = 4")
    done = verify_cli(chained, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["first_broken_seq"] == 4
    assert report["reason"] == "entry 4 is missing: entry 5 follows entry 3"
    assert report["checked"] == 3


def test_verify_catches_the_newest_entry_deleted(chained: str) -> None:
    tamper(chained, "DELETE FROM audit_events WHERE seq = 6")
    done = verify_cli(chained)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN: the newest entries after 5 are missing: the head names entry 6" in done.stdout


def test_verify_catches_a_rewritten_link(chained: str) -> None:
    # entry 4 rewritten with a hash of its own that matches its new contents: the link
    # from entry 5 no longer holds
    engine = build_engine(DatabaseSettings(url=SecretStr(chained)))
    try:
        factory = build_session_factory(engine)
        with unit_of_work(factory) as session:
            row = session.get(AuditEvent, 4)
            assert row is not None
            row.details = {"sessions_ended": 40}
            row.hash = entry_hash(
                row.prev_hash,
                EntryContent(
                    row.seq,
                    row.occurred_at,
                    row.action,
                    row.actor_id,
                    row.subject_type,
                    row.subject_id,
                    row.details,
                ),
            )
        with unit_of_work(factory) as session:
            report = verify_chain(session)
    finally:
        engine.dispose()
    assert (report.ok, report.first_broken_seq) == (False, 5)
    assert report.reason == "entry 5 is out of the chain: its previous hash is not entry 4's hash"


# --- concurrent appends -------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def factory(
    request: pytest.FixtureRequest, new_database: Callable[[str], str]
) -> Iterator[sessionmaker[Session]]:
    engine = build_engine(DatabaseSettings(url=SecretStr(new_database(request.param))), threads=8)
    try:
        yield build_session_factory(engine)
    finally:
        engine.dispose()


def test_concurrent_appends_make_one_unbroken_chain(factory: sessionmaker[Session]) -> None:
    threads, per_thread = 6, 10
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        start.wait()
        for i in range(per_thread):
            try:
                with unit_of_work(factory) as session:
                    record(
                        session,
                        actions.SESSION_ENDED,
                        actor_id=f"worker-{worker}",
                        subject_type="user",
                        subject_id=f"worker-{worker}",
                        details={"ended": i},
                    )
                    if i % 5 == 4:
                        raise LookupError("rolled back after appending")
            except LookupError:
                pass
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    kept = threads * (per_thread - per_thread // 5)
    with unit_of_work(factory) as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        head = session.get(AuditChainHead, 1)
        report = verify_chain(session)
        per_worker = {
            f"worker-{n}": sorted(
                session.scalars(
                    select(AuditEvent.details).where(AuditEvent.actor_id == f"worker-{n}")
                ),
                key=lambda d: int(d["ended"]),
            )
            for n in range(threads)
        }
    assert seqs == list(range(1, kept + 1))
    assert head is not None
    assert head.seq == kept
    assert report.ok, report.reason
    assert report.checked == kept
    # no lost entry: each worker's kept appends are all there
    for details in per_worker.values():
        assert [d["ended"] for d in details] == [i for i in range(per_thread) if i % 5 != 4]


def test_record_refuses_unknown_actions_and_emails(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as session:
        with pytest.raises(ValueError, match="unknown audit action"):
            record(session, "user.renamed", actor_id=None, subject_type="user", subject_id="u")
        with pytest.raises(ValueError, match="e-mail"):
            record(
                session,
                actions.USER_INVITED,
                actor_id=None,
                subject_type="invitation",
                subject_id="i",
                details={"sent_to": "someone@example.org"},
            )
        assert session.scalar(select(AuditChainHead.seq)) == 0
