"""`pegasus drill backup-restore` and `pegasus drill migration-rollback` on both columns:
each seeds a staging target with lectures processed through the real pipeline, runs, and
writes evidence whose checks hold real numbers; a broken backup or restore fails the drill
and the evidence names the check."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from pegasus.backup.service import BackupSet
from pegasus.config import Settings
from pegasus.db.migrate import downgrade as real_downgrade
from pegasus.drills import migration_rollback
from pegasus.drills.backup_restore import DrillHooks, run_backup_restore
from pegasus.drills.common import DrillOptions
from pegasus.drills.staging import Target
from pegasus.storage.factory import build_object_store
from pegasus_testkit.databases import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.slow

COLUMNS = [pytest.param("embedded"), pytest.param("scaled", marks=pytest.mark.postgres)]
S3_KEY_ID = "testing"
S3_SECRET = "testing-drill-key"


def _drill(
    name: str, column: str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], str]:
    """Run `pegasus drill NAME` on ``column`` as a subprocess; return it, its JSON evidence
    and its Markdown evidence."""
    evidence = tmp_path / "evidence"
    args = [
        "drill",
        name,
        "--column",
        column,
        "--lectures",
        "1",
        "--evidence-dir",
        str(evidence),
        "--staging-dir",
        str(tmp_path / "staging"),
    ]
    env = {"PATH": "/usr/bin:/bin", "PEGASUS_LOG_LEVEL": "WARNING"}
    if column == "scaled":
        args += [
            "--database-url",
            POSTGRES_ADMIN_URL,
            "--s3-endpoint",
            request.getfixturevalue("s3_endpoint"),
        ]
        env |= {
            "PEGASUS_STORAGE_S3_ACCESS_KEY_ID": S3_KEY_ID,
            "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY": S3_SECRET,
        }
    result = subprocess.run(
        [sys.executable, "-m", "pegasus", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    (json_file,) = evidence.glob(f"*-{name}-{column}.json")
    (md_file,) = evidence.glob(f"*-{name}-{column}.md")
    data = json.loads(json_file.read_text())
    assert json_file.name == f"{data['started_at'][:10]}-{name}-{column}.json"
    return result, data, md_file.read_text()


def _assert_passed(data: dict[str, Any], markdown: str, result: Any) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drill passed" in result.stdout
    assert data["ok"] is True
    assert data["exit_code"] == 0
    assert data["failed_checks"] == []
    assert data["checks_total"] >= 15
    assert all(check["ok"] for check in data["checks"] if check["required"])
    for step in data["steps"]:
        assert step["exit_code"] == 0, step
        started = datetime.fromisoformat(step["started_at"])
        finished = datetime.fromisoformat(step["finished_at"])
        assert started <= finished
        assert step["duration_seconds"] >= 0
        assert step["command"]
    assert data["machine"]["python"].startswith("3.11")
    assert data["machine"]["database_server"]
    assert S3_SECRET not in json.dumps(data)
    assert "PASSED" in markdown.splitlines()[0]
    assert all(check["name"] in markdown for check in data["checks"])
    # nothing of the staging target is left behind
    assert data["staging"]["kept"] is False
    assert not Path(data["staging"]["root"]).exists()


def _check(data: dict[str, Any], name: str) -> dict[str, Any]:
    found = [check for check in data["checks"] if check["name"] == name]
    assert found, f"no check {name!r} in {[c['name'] for c in data['checks']]}"
    check: dict[str, Any] = found[0]
    return check


@pytest.mark.parametrize("column", COLUMNS)
def test_backup_restore_drill_passes_with_real_numbers(
    column: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    result, data, markdown = _drill("backup-restore", column, tmp_path, request)
    _assert_passed(data, markdown, result)
    measured = data["measurements"]
    # RPO: the snapshot was taken after the newest write, within the drill's run
    assert 0 <= measured["rpo_seconds"] < data["duration_seconds"]
    assert measured["snapshot_taken_at"] >= measured["newest_write_at"]
    # RTO: restore plus read-back, measured
    assert measured["rto_seconds"] > 0
    assert measured["rto_seconds"] == pytest.approx(
        measured["restore_seconds"] + measured["readback_seconds"], abs=0.002
    )
    counts = measured["row_counts"]
    assert counts["lectures"] == 1
    assert counts["users"] == 1
    assert counts["stage_runs"] >= 4
    assert counts["transcript_segments"] >= 1
    # every artifact row is an object, every object came back
    assert measured["objects"] == counts["artifacts"] >= 10
    assert measured["object_bytes"] > 10_000
    for name in (
        "backup verified",
        "restore verified",
        "restored tables equal the source's",
        "restored objects equal the source's",
        "restored lecture read",
        "restored lecture checksums equal the source's",
    ):
        assert _check(data, name)["ok"]
    assert (
        f"{counts['artifacts']} of {counts['artifacts']} objects"
        in _check(data, "restored objects equal the source's")["detail"]
    )
    assert "transcript holds the clip's words" in _check(data, "restored lecture read")["detail"]
    verify_step = next(s for s in data["steps"] if s["name"] == "verify backup")
    assert verify_step["command"].startswith("pegasus backup verify ")
    if column == "scaled":
        assert measured["backup_location"].startswith("s3://pegasus-drill-")
        assert data["machine"]["database_server"].startswith("PostgreSQL")
        assert _check(data, "restore: database.integrity")["detail"].startswith("pg_amcheck")
        assert len(data["staging"]["databases"]) == 2
        assert len(data["staging"]["buckets"]) == 3


@pytest.mark.parametrize("column", COLUMNS)
def test_migration_rollback_drill_passes_with_no_data_lost(
    column: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    result, data, markdown = _drill("migration-rollback", column, tmp_path, request)
    _assert_passed(data, markdown, result)
    measured = data["measurements"]
    head, previous = measured["head_revision"], measured["previous_revision"]
    assert head != previous
    names = [step["name"] for step in data["steps"]]
    assert names.index("downgrade one revision") < names.index("smoke at previous revision")
    assert names.index("smoke at previous revision") < names.index("upgrade back to head")
    down = next(s for s in data["steps"] if s["name"] == "downgrade one revision")
    up = next(s for s in data["steps"] if s["name"] == "upgrade back to head")
    assert down["data"]["revision"] == previous
    assert up["data"]["revision"] == head
    # rows were compared, and none was lost, at each step
    for step in (down, up):
        comparison = step["data"]["comparison"]
        assert comparison["changed"] == {}
        assert comparison["rows_lost"] == 0
        assert comparison["compared_rows"] >= 40
        assert comparison["compared_tables"] >= 10
    assert down["data"]["before"]["lectures"] == 2  # the seed and the smoke's new lecture
    for name in (
        "downgrade kept every row",
        "lectures read with SQL (previous revision)",
        "upgrade back kept every row",
        "no data lost: every lecture's objects unchanged since first read",
        "new lecture processed (head again)",
    ):
        assert _check(data, name)["ok"]
    assert measured["row_counts_final"]["lectures"] == measured["lectures_processed"] >= 4


def _embedded_options(tmp_path: Path) -> DrillOptions:
    return DrillOptions(
        column="embedded",
        evidence_dir=tmp_path / "evidence",
        staging_dir=tmp_path / "staging",
        lectures=1,
        command="test",
    )


def test_backup_restore_drill_fails_when_a_restored_object_is_lost(tmp_path: Path) -> None:
    """The restore succeeds and checks itself; then the restored store loses the
    transcript (a disk fault, an operator's mistake): the drill's own read-back must fail."""
    removed: list[str] = []

    def lose_transcript(target: Target) -> None:
        store = build_object_store(target.storage)
        (key,) = [o.key for o in store.list_prefix("") if o.key.endswith("transcript.json")]
        assert store.delete_prefix(key) == 1
        removed.append(key)

    outcome = run_backup_restore(
        Settings(), _embedded_options(tmp_path), hooks=DrillHooks(after_restore=lose_transcript)
    )
    assert removed
    assert outcome.exit_code == 1
    data = json.loads(outcome.json_path.read_text())
    assert data["ok"] is False
    assert data["exit_code"] == 1
    assert _check(data, "restore verified")["ok"]  # the fault came after the restore
    failed = set(data["failed_checks"])
    assert {"restored objects equal the source's", "restored lecture read"} <= failed
    assert f"missing {removed[0]}" in _check(data, "restored objects equal the source's")["detail"]
    assert "transcript unreadable" in _check(data, "restored lecture read")["detail"]
    readback = next(s for s in data["steps"] if s["name"] == "read back restored")
    assert readback["exit_code"] == 1
    assert "FAILED" in outcome.markdown_path.read_text().splitlines()[0]


def test_backup_restore_drill_fails_when_the_backup_set_is_damaged(tmp_path: Path) -> None:
    """A byte of a stored object in the set changes after the backup (bit rot, a partial
    copy): verification must fail and the drill must say so."""

    def damage_set(backup: BackupSet) -> None:
        (copy,) = list(Path(backup.location).glob("objects/**/transcript.json"))
        data = bytearray(copy.read_bytes())
        data[len(data) // 2] ^= 0xFF
        copy.write_bytes(bytes(data))

    outcome = run_backup_restore(
        Settings(), _embedded_options(tmp_path), hooks=DrillHooks(after_backup=damage_set)
    )
    assert outcome.exit_code == 1
    data = json.loads(outcome.json_path.read_text())
    assert "backup verified" in data["failed_checks"]
    verify = next(s for s in data["steps"] if s["name"] == "verify backup")
    assert verify["exit_code"] == 1
    restore = next(s for s in data["steps"] if s["name"] == "restore")
    assert restore["exit_code"] == 1  # refused or failed its own checks


def test_migration_rollback_drill_fails_when_a_downgrade_loses_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A downgrade with a bug that deletes rows (here: every study kit's artifact row) must
    fail the drill, naming the table, and the final read-back must see the lost artifact."""

    def losing_downgrade(engine: Engine, revision: str) -> None:
        real_downgrade(engine, revision)
        with engine.begin() as connection:
            deleted = connection.execute(text("DELETE FROM artifacts WHERE kind = 'kit'"))
        assert deleted.rowcount == 2  # the seeded lecture's and the smoke's new lecture's

    monkeypatch.setattr(migration_rollback, "downgrade", losing_downgrade)
    outcome = migration_rollback.run_migration_rollback(Settings(), _embedded_options(tmp_path))
    assert outcome.exit_code == 1
    data = json.loads(outcome.json_path.read_text())
    failed = data["failed_checks"]
    assert "downgrade kept every row" in failed
    assert "no data lost: every lecture's objects unchanged since first read" in failed
    down = next(s for s in data["steps"] if s["name"] == "downgrade one revision")
    assert down["exit_code"] == 1
    rows = down["data"]["before"]["artifacts"]
    assert down["data"]["comparison"]["changed"]["artifacts"][0] == f"rows {rows} -> {rows - 2}"
    assert "artifacts (rows" in _check(data, "downgrade kept every row")["detail"]


def test_scaled_drill_without_a_postgresql_server_refuses_to_start(tmp_path: Path) -> None:
    """No PostgreSQL server given or configured: exit 2 with what to set, no evidence."""
    result = subprocess.run(
        [sys.executable, "-m", "pegasus", "drill", "migration-rollback", "--column", "scaled"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PEGASUS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert result.returncode == 2, result.stderr
    assert "error [config.invalid]" in result.stderr
    assert "--database-url" in result.stderr
    assert not (tmp_path / "docs").exists()
    assert not (tmp_path / "x.db").exists()
