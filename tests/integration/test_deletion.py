"""The deletion workflow on both columns, through real `pegasus serve` (and worker) processes.

Deleting a course, a lecture or a user: gone from every listing, search and export at once;
the purge leaves no row that names it in any table (the deletion receipt and the audit log
excepted: they are meant to outlive it) and no object under its storage prefix; the receipt
can be downloaded by the owner and an admin only; the audit log records the request and the
completion and `pegasus audit verify` passes on it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, String, Table, Text, func, or_, select, update

from pegasus.config import DatabaseSettings
from pegasus.db.session import build_engine
from pegasus.storage.keys import course_prefix, lecture_prefix
from pegasus_testkit.cli import PEGASUS, clean_env
from pegasus_testkit.deployment import Api, Deployment
from pegasus_testkit.integrity import store_for
from pegasus_testkit.lectures import Recordings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

#: Tables that keep a deleted subject's id on purpose.
KEEPERS = frozenset({"deletions", "audit_events"})


@pytest.fixture(scope="module")
def engine(deployment: Deployment) -> Iterator[Engine]:
    built = build_engine(DatabaseSettings(url=SecretStr(deployment.database_url)))
    yield built
    built.dispose()


@pytest.fixture(scope="module")
def learner(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("deleting-learner@example.org"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def admin(deployment: Deployment) -> Iterator[Api]:
    api = Api(deployment, deployment.create_user("deleting-admin@example.org", admin=True))
    yield api
    api.close()


def _finished(api: Api, course_id: str, recordings: Recordings, title: str) -> dict[str, Any]:
    response = api.upload(course_id, recordings.lecture_m4a, content_type="audio/mp4", title=title)
    assert response.status_code == 202, response.text
    lecture = api.wait_for(response.json()["id"])
    assert lecture["status"] == "succeeded", lecture
    return lecture


def _wait_completed(api: Api, deletion_id: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(f"/api/v1/deletions/{deletion_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == "completed":
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"deletion still pending after {timeout:.0f} s: {body}")
        time.sleep(0.3)


def _rows_naming(engine: Engine, ids: set[str]) -> dict[str, int]:
    """Rows of every table but ``KEEPERS`` holding any of ``ids`` in any text column (equal,
    or inside it, as in an object key), by table."""
    tables = MetaData()
    tables.reflect(engine)
    found: dict[str, int] = {}
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            if table.name in KEEPERS or table.name.startswith("transcript_segments_fts"):
                continue
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not columns:
                continue
            matches = [c.contains(i) for c in columns for i in ids]
            count = connection.scalar(select(func.count()).select_from(table).where(or_(*matches)))
            if count:
                found[table.name] = int(count)
    return found


def _objects_under(deployment: Deployment, prefixes: list[str]) -> list[str]:
    with store_for(deployment.env) as store:
        return [o.key for prefix in prefixes for o in store.list_prefix(prefix)]


def _audit_rows(engine: Engine, subject_id: str) -> list[tuple[str, str | None]]:
    events = _audit_table(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            select(events.c.action, events.c.actor_id)
            .where(events.c.subject_id == subject_id)
            .order_by(events.c.seq)
        ).all()
    return [(r[0], r[1]) for r in rows]


def _completion_entry(engine: Engine, subject_id: str) -> dict[str, Any]:
    events = _audit_table(engine)
    with engine.connect() as connection:
        row = connection.execute(
            select(events.c.seq, events.c.details).where(
                events.c.subject_id == subject_id, events.c.action == "deletion.completed"
            )
        ).one()
    return {"seq": row[0], "details": dict(row[1])}


def _set_details(engine: Engine, seq: int, details: dict[str, Any]) -> None:
    events = _audit_table(engine)
    with engine.begin() as connection:
        connection.execute(update(events).where(events.c.seq == seq).values(details=details))


def _audit_table(engine: Engine) -> Table:
    tables = MetaData()
    tables.reflect(engine, only=["audit_events"])
    return tables.tables["audit_events"]


def _run_verify(deployment: Deployment) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEGASUS, "audit", "verify", "--json"],
        env=clean_env(deployment.env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deleting_a_course_leaves_nothing_and_writes_a_receipt(
    deployment: Deployment,
    learner: Api,
    admin: Api,
    engine: Engine,
    recordings: Recordings,
) -> None:
    doomed = learner.create_course("Course to delete")
    kept = learner.create_course("Course to keep")
    gone = _finished(learner, doomed["id"], recordings, "Photosynthesis, doomed")
    stays = _finished(learner, kept["id"], recordings, "Photosynthesis, kept")
    prefixes = [course_prefix(doomed["id"])]
    assert _objects_under(deployment, prefixes), "the doomed course stored nothing to delete"
    stranger = Api(deployment, deployment.create_user("deleting-stranger@example.org"))
    try:
        refused = stranger.client.delete(f"/api/v1/courses/{doomed['id']}")
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "not_found"
    finally:
        stranger.close()

    response = learner.client.delete(f"/api/v1/courses/{doomed['id']}")
    assert response.status_code == 202, response.text
    deletion = response.json()
    assert deletion["subject_type"] == "course"
    assert deletion["subject_id"] == doomed["id"]
    again = learner.client.delete(f"/api/v1/courses/{doomed['id']}")  # a double click
    assert again.status_code == 202, again.text
    assert again.json()["id"] == deletion["id"]

    # Gone at once from every listing, search and export.
    listed = [c["id"] for c in learner.client.get("/api/v1/courses").json()]
    assert doomed["id"] not in listed
    assert kept["id"] in listed
    assert learner.client.get(f"/api/v1/courses/{doomed['id']}").status_code == 404
    assert learner.client.get(f"/api/v1/lectures/{gone['id']}").status_code == 404
    assert learner.client.get(f"/api/v1/lectures/{gone['id']}/exports/md").status_code == 404
    hits = learner.client.get("/api/v1/search", params={"q": "photosynthesis"}).json()["hits"]
    assert {h["lecture_id"] for h in hits} == {stays["id"]}

    completed = _wait_completed(learner, deletion["id"])
    assert completed["receipt_url"] == f"/api/v1/deletions/{deletion['id']}/receipt"
    ids = {doomed["id"], gone["id"]}
    assert _rows_naming(engine, ids) == {}
    assert _objects_under(deployment, [*prefixes, lecture_prefix(doomed["id"], gone["id"])]) == []

    receipt = learner.client.get(completed["receipt_url"])
    assert receipt.status_code == 200, receipt.text
    assert "attachment" in receipt.headers["content-disposition"]
    body = receipt.json()
    assert body["format"] == "pegasus.deletion-receipt/1"
    assert (body["subject_type"], body["subject_id"]) == ("course", doomed["id"])
    assert body["removed"]["courses"] == 1
    assert body["removed"]["lectures"] == 1
    assert body["removed"]["artifacts"] >= 4
    assert body["removed"]["objects"] >= 4
    verification = body["verification"]
    assert verification["passed"] is True
    assert (verification["rows_left"], verification["objects_left"]) == (0, 0)
    assert admin.client.get(completed["receipt_url"]).status_code == 200
    outsider = Api(deployment, deployment.create_user("receipt-outsider@example.org"))
    try:
        assert outsider.client.get(completed["receipt_url"]).status_code == 404
    finally:
        outsider.close()

    actions = [action for action, _ in _audit_rows(engine, doomed["id"])]
    assert actions[0] == "course.deletion_requested"
    assert "deletion.completed" in actions
    assert [a for a, _ in _audit_rows(engine, deletion["id"])].count(
        "deletion.receipt_downloaded"
    ) == 2
    report = json.loads(deployment.cli("audit", "verify", "--json"))
    assert report["ok"] is True, report

    # Tampering with the completion entry (fewer objects deleted) is caught, and names it.
    completion = _completion_entry(engine, doomed["id"])
    _set_details(engine, completion["seq"], {**completion["details"], "objects": 0})
    try:
        broken = _run_verify(deployment)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert json.loads(broken.stdout)["first_broken_seq"] == completion["seq"]
    finally:
        _set_details(engine, completion["seq"], completion["details"])
    assert json.loads(deployment.cli("audit", "verify", "--json"))["ok"] is True

    # The course kept is untouched: its lecture still reads and exports.
    assert learner.lecture(stays["id"])["status"] == "succeeded"
    export = learner.client.get(f"/api/v1/lectures/{stays['id']}/exports/md")
    assert export.status_code == 200
    assert b"Photosynthesis" in export.content


def _wait_status(api: Api, lecture_id: str, stage: str, timeout: float = 120.0) -> None:
    """Wait until ``stage`` of the lecture is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages = api.lecture(lecture_id)["stages"]
        if any(s["stage"] == stage and s["status"] == "running" for s in stages):
            return
        time.sleep(0.1)
    raise AssertionError(f"{stage} never ran: {api.lecture(lecture_id)}")


def test_deleting_a_lecture_stops_its_processing_and_purges_after_it(
    deployment: Deployment, learner: Api, engine: Engine, recordings: Recordings
) -> None:
    course = learner.create_course("Course with a lecture in progress")
    response = learner.upload(
        course["id"], recordings.long_wav, content_type="audio/wav", title="Long lecture"
    )
    assert response.status_code == 202, response.text
    lecture_id = response.json()["id"]
    _wait_status(learner, lecture_id, "transcribe")

    deleted = learner.client.delete(f"/api/v1/lectures/{lecture_id}")
    assert deleted.status_code == 202, deleted.text
    assert learner.client.get(f"/api/v1/lectures/{lecture_id}").status_code == 404
    assert learner.client.get(f"/api/v1/courses/{course['id']}/lectures").json() == []
    completed = _wait_completed(learner, deleted.json()["id"])
    assert completed["subject_type"] == "lecture"

    assert _rows_naming(engine, {lecture_id}) == {}
    prefix = lecture_prefix(course["id"], lecture_id)
    assert _objects_under(deployment, [prefix]) == []
    logs = "".join(p.full_output() for p in deployment.processes)
    assert "pipeline.stage.stopped" in logs, "\n".join(
        line for line in logs.splitlines() if "pipeline" in line or "deletion" in line
    )[-8000:]
    assert "pipeline.stage.crashed" not in logs
    # Nothing the stopped stage could still write appears afterwards.
    time.sleep(2)
    assert _objects_under(deployment, [prefix]) == []
    # The course stays, with its other data.
    assert learner.client.get(f"/api/v1/courses/{course['id']}").status_code == 200


def test_an_admin_deletes_a_user_whose_access_ends_at_once(
    deployment: Deployment, admin: Api, engine: Engine, recordings: Recordings
) -> None:
    leaving = Api(deployment, deployment.create_user("leaving@example.org"))
    try:
        course = leaving.create_course("Course of a leaving user")
        uploaded = leaving.upload(course["id"], recordings.lecture_m4a, content_type="audio/mp4")
        assert uploaded.status_code == 202, uploaded.text
        lecture_id = uploaded.json()["id"]
        users = admin.client.get("/api/v1/users").json()
        user_id = next(u["id"] for u in users if u["email"] == "leaving@example.org")
        me = next(u["id"] for u in users if u["email"] == "deleting-admin@example.org")

        not_admin = leaving.client.delete(f"/api/v1/users/{me}")
        assert not_admin.status_code == 403, not_admin.text
        self_delete = admin.client.delete(f"/api/v1/users/{me}")
        assert self_delete.status_code == 409, self_delete.text
        assert self_delete.json()["error"]["code"] == "user.cannot_delete_self"

        response = admin.client.delete(f"/api/v1/users/{user_id}")
        assert response.status_code == 202, response.text
        refused = leaving.client.get("/api/v1/courses")
        assert refused.status_code == 401, refused.text
        completed = _wait_completed(admin, response.json()["id"])
    finally:
        leaving.close()
    assert _rows_naming(engine, {user_id, course["id"], lecture_id}) == {}
    assert _objects_under(deployment, [course_prefix(course["id"])]) == []
    receipt = admin.client.get(completed["receipt_url"]).json()
    assert receipt["removed"]["users"] == 1
    assert receipt["removed"]["courses"] == 1
    assert receipt["verification"]["passed"] is True
    assert "leaving@example.org" not in json.dumps(receipt)
    assert ("user.deletion_requested", me) in _audit_rows(engine, user_id)
