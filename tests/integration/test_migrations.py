"""Every migration's downgrade runs with data present, on SQLite and PostgreSQL.

pytest-alembic's built-in tests (tests/migrations/) prove the history upgrades, downgrades on
empty databases and matches the models; this one proves a downgrade keeps the data. The walk:
up from base to head one revision at a time, recording each revision's tables and columns;
then from head down to base, at each revision: seed realistic rows into every table the
revision has, downgrade one step, check the schema is the parent's and every row the parent's
schema can hold is still there with the same values, upgrade again (still there), downgrade
again and go on. Migrations run through ``pegasus.db.migrate`` (what ``pegasus db upgrade``
and the rollback drill use) on the engine the application builds.

The rows are plain inserts written for the newest schema and trimmed to the columns a
revision has. A table ``ROWS`` does not cover, or a NOT NULL column without a server default
that its rows leave out, fails the test: a new migration adds its table's rows here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, Table, inspect, select, text

from pegasus.config import DatabaseSettings
from pegasus.db.migrate import UNMAPPED_SEARCH_TABLE_PREFIX, alembic_config, downgrade, upgrade
from pegasus.db.session import build_engine
from pegasus_testkit.databases import (
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
)

Row = dict[str, Any]
#: table -> its column names, as reflected from the database.
Schema = dict[str, frozenset[str]]
#: table -> primary key values -> row.
Contents = dict[str, dict[tuple[Any, ...], Row]]

EPOCH = datetime(2026, 11, 30, 9, 15, 30, 123456, tzinfo=UTC)


def _id(kind: str, batch: int, index: int = 0) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pegasus-test/{kind}/{batch}/{index}"))


def _at(batch: int, minutes: int = 0) -> datetime:
    return EPOCH + timedelta(days=batch, minutes=minutes)


def _users(n: int) -> list[Row]:
    return [
        {
            "id": _id("user", n, i),
            "email": f"learner{n}.{i}@example.edu",
            "password_hash": f"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ${'h' * 20}{n}{i}",
            "is_admin": i == 0,
            "disabled_at": None,
            "deleted_at": None,
            "created_at": _at(n),
        }
        for i in range(2)
    ]


def _api_tokens(n: int) -> list[Row]:
    return [
        {
            "id": _id("token", n),
            "user_id": _id("user", n, 0),
            "name": "laptop cli",
            "token_hash": f"{n:02d}" + "a" * 62,
            "prefix": f"pg_{n:04d}",
            "last_used_at": _at(n, 5),
            "revoked_at": None,
            "expires_at": _at(n + 400),
            "created_at": _at(n, 1),
        }
    ]


def _courses(n: int) -> list[Row]:
    return [
        {
            "id": _id("course", n),
            "owner_id": _id("user", n, 0),
            "name": f"Thermodynamics {n}01",
            "deleted_at": None,
            "redaction_kinds": ["email", "phone"],
            "roster_names": [f"Ada Quill {n}", "Bram Okafor"],
            "audio_retention_days": 30 + n,
            "created_at": _at(n, 2),
        }
    ]


def _presets(n: int) -> list[Row]:
    return [
        {
            "key": f"course-notes-{n}",
            "name": "Course notes",
            "description": "Transcript, chapters and flashcards for this course.",
            "outputs": ["transcript", "chapters", "flashcards"],
            "exports": ["srt", "pdf", "apkg"],
            "options": {"language": "en", "max_cards": 40 + n},
            "is_builtin": False,
            "course_id": _id("course", n),
            "created_at": _at(n, 3),
        }
    ]


def _lectures(n: int) -> list[Row]:
    return [
        {
            "id": _id("lecture", n, i),
            "course_id": _id("course", n),
            "owner_id": _id("user", n, 0),
            "title": f"Lecture {i + 1}: entropy and the second law",
            "preset_key": f"course-notes-{n}",
            "status": ("succeeded", "processing")[i],
            "original_filename": f"lecture-{i + 1}.m4a",
            "content_type": "audio/mp4",
            "size_bytes": 48_213_337 + i,
            "sha256": f"{n:02d}{i:02d}" + "f" * 60,
            "duration_seconds": (3120.5, None)[i],
            "updated_at": _at(n, 40),
            "finished_at": (_at(n, 40), None)[i],
            "deleted_at": None,
            "audio_deleted_at": (_at(n + 30), None)[i],
            "created_at": _at(n, 4),
        }
        for i in range(2)
    ]


def _artifacts(n: int) -> list[Row]:
    lecture = _id("lecture", n, 0)
    return [
        {
            "id": _id("artifact", n, i),
            "lecture_id": lecture,
            "kind": kind,
            "key": f"lectures/{lecture}/{name}",
            "content_type": content_type,
            "size_bytes": size,
            "sha256": f"{n:02d}{i:02d}" + "e" * 60,
            "version": 1 + i * 2,
            "created_at": _at(n, 30 + i),
        }
        for i, (kind, name, content_type, size) in enumerate(
            [
                ("recording", "recording.m4a", "audio/mp4", 48_213_337),
                ("transcript", "transcript.json", "application/json", 81_920),
            ]
        )
    ]


def _stage_runs(n: int) -> list[Row]:
    runs = [
        (_id("lecture", n, 0), "ingest", "succeeded", 1.0, None, "", "worker-a"),
        (_id("lecture", n, 1), "transcribe", "failed", 0.4, "storage.unavailable", "S3", None),
        (_id("lecture", n, 1), "transcribe", "running", 0.1, None, "", "worker-b"),
    ]
    return [
        {
            "id": _id("stage-run", n, i),
            "lecture_id": lecture,
            "stage": stage,
            "attempt": 1 if i < 2 else 2,
            "status": status,
            "progress": progress,
            "message": "Transcribing 41 of 52 minutes" if status == "running" else "",
            "error_code": code,
            "error_message": f"{detail} endpoint unreachable" if code else None,
            "queued_at": _at(n, 5 + i),
            "available_at": _at(n, 5 + i),
            "enqueued_at": _at(n, 6 + i),
            "started_at": _at(n, 7 + i),
            "finished_at": None if status == "running" else _at(n, 20 + i),
            "lease_expires_at": _at(n, 25 + i) if status == "running" else None,
            "worker_id": worker,
        }
        for i, (lecture, stage, status, progress, code, detail, worker) in enumerate(runs)
    ]


def _workers(n: int) -> list[Row]:
    return [
        {
            "id": f"worker-{n}-host-4242",
            "hostname": f"worker-{n}.internal",
            "pid": 4242 + n,
            "kind": "worker",
            "started_at": _at(n),
            "last_seen_at": _at(n, 50),
        }
    ]


def _incidents(n: int) -> list[Row]:
    return [
        {
            "id": _id("incident", n),
            "fingerprint": f"{n:04d}" + "c" * 12,
            "alertname": "PegasusStageFailureRate",
            "status": "resolved",
            "severity": "page",
            "stage": "transcribe",
            "summary": "Transcription failing for more than 5% of lectures",
            "runbook_url": "https://runbooks.example.edu/PegasusStageFailureRate",
            "labels": {"stage": "transcribe", "severity": "page"},
            "annotations": {"summary": "failure rate 7%"},
            "starts_at": _at(n, 10),
            "ends_at": _at(n, 25),
            "received_at": _at(n, 11),
            "updated_at": _at(n, 25),
        }
    ]


def _transcript_segments(n: int) -> list[Row]:
    texts = ["Entropy never decreases in an isolated system.", "Carnot engines bound efficiency."]
    return [
        {
            "id": n * 100 + i + 1,
            "lecture_id": _id("lecture", n, 0),
            "owner_id": _id("user", n, 0),
            "position": i,
            "start": 12.5 * i,
            "end": 12.5 * (i + 1),
            "text": text,
        }
        for i, text in enumerate(texts)
    ]


def _web_sessions(n: int) -> list[Row]:
    return [
        {
            "id": f"{n:02d}" + "b" * 62,
            "user_id": _id("user", n, 1),
            "csrf_token": f"{n:02d}" + "d" * 62,
            "created_at": _at(n, 12),
            "last_seen_at": _at(n, 13),
            "expires_at": _at(n + 14),
            "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) Firefox/133.0",
        }
    ]


def _invitations(n: int) -> list[Row]:
    return [
        {
            "id": _id("invitation", n),
            "token_hash": f"{n:02d}" + "9" * 62,
            "created_by": _id("user", n, 0),
            "is_admin": False,
            "created_at": _at(n, 8),
            "expires_at": _at(n + 7),
            "used_at": _at(n, 9),
            "used_by": _id("user", n, 1),
        }
    ]


def _uploads(n: int) -> list[Row]:
    return [
        {
            "id": _id("upload", n),
            "owner_id": _id("user", n, 0),
            "course_id": _id("course", n),
            "lecture_id": _id("lecture", n, 1),
            "preset_key": f"course-notes-{n}",
            "title": "Lecture 2: entropy and the second law",
            "filename": "lecture-2.m4a",
            "content_type": "audio/mp4",
            "length_bytes": 48_213_338,
            "offset_bytes": 16_777_216,
            "storage_state": {"backend": "s3", "upload_id": f"mpu-{n}", "parts": [1, 2]},
            "created_at": _at(n, 3),
            "expires_at": _at(n + 1),
            "completed_at": None,
            "lock_token": _id("lock", n),
            "locked_until": _at(n, 4),
        }
    ]


def _sign_in_throttles(n: int) -> list[Row]:
    return [
        {
            "key": f"{kind}:{n:02d}" + "e" * 62,
            "window_started_at": _at(n, 20),
            "failures": 3 + i,
        }
        for i, kind in enumerate(("account", "address"))
    ]


def _audit_events(n: int) -> list[Row]:
    previous = f"{n:02d}" + "0" * 62
    return [
        {
            "seq": n * 10 + i + 1,
            "occurred_at": _at(n, 50 + i),
            "action": action,
            "actor_id": _id("user", n, 0),
            "subject_type": subject,
            "subject_id": _id(subject, n),
            "details": {"objects": 4 + i} if subject == "course" else {},
            "prev_hash": previous if i == 0 else f"{n:02d}{i:02d}" + "a" * 60,
            "hash": f"{n:02d}{i + 1:02d}" + "a" * 60,
        }
        for i, (action, subject) in enumerate(
            (("auth.sign_in", "user"), ("deletion.requested", "course"))
        )
    ]


def _audit_chain_head(n: int) -> list[Row]:
    # The migration made row 1; a row with another id keeps this insert from colliding.
    return [{"id": n + 2, "seq": n * 10 + 2, "last_hash": f"{n:02d}02" + "a" * 60}]


def _deletions(n: int) -> list[Row]:
    return [
        {
            "id": _id("deletion", n),
            "subject_type": "lecture",
            "subject_id": _id("lecture", n + 90),
            "owner_id": _id("user", n, 0),
            "requested_by": _id("user", n, 0),
            "requested_at": _at(n, 60),
            "status": "completed",
            "prefixes": [f"courses/{_id('course', n)}/lectures/{_id('lecture', n + 90)}/"],
            "attempts": 2,
            "next_attempt_at": _at(n, 61),
            "last_error_code": "storage.unavailable",
            "removed": {"lectures": 1, "artifacts": 5, "objects": 7},
            "verification": {"rows_left": 0, "objects_left": 0, "passed": True},
            "completed_at": _at(n, 62),
        }
    ]


#: Rows for batch ``n`` of every table, in the newest schema's shape.
ROWS: dict[str, Callable[[int], list[Row]]] = {
    "users": _users,
    "api_tokens": _api_tokens,
    "courses": _courses,
    "presets": _presets,
    "lectures": _lectures,
    "artifacts": _artifacts,
    "stage_runs": _stage_runs,
    "workers": _workers,
    "incidents": _incidents,
    "transcript_segments": _transcript_segments,
    "web_sessions": _web_sessions,
    "invitations": _invitations,
    "uploads": _uploads,
    "sign_in_throttles": _sign_in_throttles,
    "audit_events": _audit_events,
    "audit_chain_head": _audit_chain_head,
    "deletions": _deletions,
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The application's engine on a new, empty database (no migration applied)."""
    database = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        database = create_postgres_database()
        url = postgres_url(database)
    built = build_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        yield built
    finally:
        built.dispose()
        if database:
            drop_postgres_database(database)


def _revisions(engine: Engine) -> list[tuple[str, str]]:
    """(revision, its parent or "base") from the first revision to head."""
    url = engine.url.render_as_string(hide_password=False)
    script = ScriptDirectory.from_config(alembic_config(url))
    steps = []
    for script_revision in script.walk_revisions():
        parent = script_revision.down_revision
        assert parent is None or isinstance(parent, str), "merge revisions are not expected"
        steps.append((script_revision.revision, parent or "base"))
    return steps[::-1]


def _tables(engine: Engine) -> MetaData:
    metadata = MetaData()
    metadata.reflect(
        engine,
        only=lambda name, _: (
            name != "alembic_version" and not name.startswith(UNMAPPED_SEARCH_TABLE_PREFIX)
        ),
    )
    return metadata


def _schema(tables: MetaData) -> Schema:
    return {t.name: frozenset(t.columns.keys()) for t in tables.sorted_tables}


def _contents(engine: Engine, tables: MetaData) -> Contents:
    contents: Contents = {}
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            key = list(table.primary_key.columns.keys())
            contents[table.name] = {
                tuple(row[k] for k in key): dict(row)
                for row in connection.execute(select(table)).mappings()
            }
    return contents


def _read(engine: Engine) -> tuple[Schema, Contents]:
    """The database's tables with their columns, and every row of them."""
    tables = _tables(engine)
    return _schema(tables), _contents(engine, tables)


def _seed(engine: Engine, batch: int, newest: Schema) -> Contents:
    """Insert batch ``batch`` of ``ROWS`` into every table there is, parents first; return
    every row there is then."""
    tables = _tables(engine)
    with engine.begin() as connection:
        for table in tables.sorted_tables:
            if table.name not in ROWS:
                pytest.fail(f"table {table.name} has no rows in ROWS: add some for it")
            rows = ROWS[table.name](batch)
            unknown = set(rows[0]) - newest[table.name]
            assert not unknown, f"ROWS[{table.name!r}] names columns no revision has: {unknown}"
            _check_required(table, rows[0])
            connection.execute(
                table.insert(), [{k: v for k, v in r.items() if k in table.c} for r in rows]
            )
    return _contents(engine, tables)


def _check_required(table: Table, row: Row) -> None:
    missing = {
        column.name
        for column in table.columns
        if not column.nullable
        and column.server_default is None
        and column.computed is None
        and column.name not in row
    }
    assert not missing, f"ROWS[{table.name!r}] leaves out NOT NULL columns {missing}"


def _projected(contents: Contents, schema: Schema) -> Contents:
    """``contents`` as ``schema`` can hold it: its tables, each row cut to its columns."""
    return {
        name: {pk: {c: row[c] for c in columns} for pk, row in contents[name].items()}
        for name, columns in schema.items()
    }


def _schema_differences(expected: Schema, actual: Schema) -> list[str]:
    """Tables and columns ``actual`` lacks or has beyond ``expected``."""
    lines = [f"table {name} missing" for name in sorted(expected.keys() - actual.keys())]
    lines += [f"table {name} left behind" for name in sorted(actual.keys() - expected.keys())]
    for name in sorted(expected.keys() & actual.keys()):
        if expected[name] != actual[name]:
            missing = sorted(expected[name] - actual[name])
            extra = sorted(actual[name] - expected[name])
            lines.append(f"{name}: columns missing {missing}, left behind {extra}")
    return lines


def _differences(expected: Contents, actual: Contents) -> list[str]:
    """What ``actual`` lost, gained or changed against ``expected``, one line per table."""
    lines = []
    for name in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(name, {}), actual.get(name, {})
        lost = sorted(want.keys() - got.keys())
        added = sorted(got.keys() - want.keys())
        changed = {
            pk: {c: (v, got[pk].get(c)) for c, v in row.items() if got[pk].get(c) != v}
            for pk, row in want.items()
            if pk in got and got[pk] != row
        }
        if lost or added or changed:
            lines.append(f"{name}: lost {lost}, added {added}, changed {changed}")
    return lines


def test_every_downgrade_keeps_the_data_its_schema_can_hold(engine: Engine) -> None:
    steps = _revisions(engine)
    schemas: dict[str, Schema] = {"base": _schema(_tables(engine))}
    assert schemas["base"] == {}
    for revision, _parent in steps:
        upgrade(engine, revision)
        schemas[revision] = _schema(_tables(engine))
    newest = schemas[steps[-1][0]]
    assert set(ROWS) == set(newest), (
        f"ROWS lacks tables {set(newest) - set(ROWS)}, has unknown ones {set(ROWS) - set(newest)}"
    )

    # What downgrades left in place on purpose (``KEEPS_SCHEMA_ON_DOWNGRADE``): whole tables,
    # and columns of tables that stay.
    kept_tables: Schema = {}
    kept_columns: Schema = {}
    for batch, (revision, parent) in enumerate(reversed(steps)):
        before = _seed(engine, batch, newest)
        assert all(before.values()), f"every table at {revision} has rows"
        if _keeps_schema_on_downgrade(engine, revision):
            for name, columns in schemas[revision].items():
                if name not in schemas[parent]:
                    kept_tables[name] = columns
                elif added := columns - schemas[parent][name]:
                    kept_columns[name] = kept_columns.get(name, frozenset()) | added
        expected = {
            **kept_tables,
            **{n: c | kept_columns.get(n, frozenset()) for n, c in schemas[parent].items()},
        }
        kept = _projected(before, expected)

        downgrade(engine, parent)
        schema, contents = _read(engine)
        wrong = _schema_differences(expected, schema)
        assert not wrong, f"downgrade of {revision} did not leave {parent}'s schema: {wrong}"
        lost = _differences(kept, contents)
        assert not lost, f"downgrade of {revision} lost or changed rows: {lost}"

        upgrade(engine, revision)
        lost = _differences(kept, _projected(_read(engine)[1], expected))
        assert not lost, f"upgrade to {revision} after its downgrade lost or changed rows: {lost}"
        downgrade(engine, parent)

    assert _read(engine)[0] == kept_tables
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            # the migrations turned foreign keys off on this pooled connection, and back on
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _keeps_schema_on_downgrade(engine: Engine, revision: str) -> bool:
    """Whether ``revision``'s downgrade leaves its tables and columns in place."""
    url = engine.url.render_as_string(hide_password=False)
    script = ScriptDirectory.from_config(alembic_config(url)).get_revision(revision)
    assert script is not None
    return bool(getattr(script.module, "KEEPS_SCHEMA_ON_DOWNGRADE", False))


def test_downgrading_past_tombstones_deletes_what_was_being_deleted(engine: Engine) -> None:
    """Revision 0007 knows no tombstones: the downgrade of 0008 deletes the rows of a course
    and a lecture whose deletion was pending (the older code would show them again), keeps
    everything else, and leaves a user being deleted disabled."""
    upgrade(engine, "0008")
    newest = _schema(_tables(engine))
    _seed(engine, 0, newest)
    kept_course, doomed_lecture = _id("course", 0), _id("lecture", 0, 1)
    kept_lecture = _id("lecture", 0, 0)
    tables = _tables(engine).tables
    with engine.begin() as connection:
        connection.execute(
            tables["lectures"]
            .update()
            .where(tables["lectures"].c.id == doomed_lecture)
            .values(deleted_at=_at(0, 90))
        )
        connection.execute(
            tables["users"]
            .update()
            .where(tables["users"].c.id == _id("user", 0, 1))
            .values(deleted_at=_at(0, 91))
        )
    # A second course, wholly being deleted, with a lecture and an artifact of its own.
    batch = _seed(engine, 1, newest)
    assert batch["courses"]
    with engine.begin() as connection:
        connection.execute(
            tables["courses"]
            .update()
            .where(tables["courses"].c.id == _id("course", 1))
            .values(deleted_at=_at(1, 90))
        )

    downgrade(engine, "0007")
    _schema_now, contents = _read(engine)
    assert set(contents["courses"]) == {(kept_course,)}
    lectures = {pk[0] for pk in contents["lectures"]}
    assert lectures == {kept_lecture}
    assert all(row["lecture_id"] == kept_lecture for row in contents["artifacts"].values())
    assert all(row["lecture_id"] == kept_lecture for row in contents["stage_runs"].values())
    assert all(
        row["lecture_id"] == kept_lecture for row in contents["transcript_segments"].values()
    )
    assert all(row["course_id"] == kept_course for row in contents["uploads"].values())
    assert all(row["course_id"] == kept_course for row in contents["presets"].values())
    deleted_user = contents["users"][(_id("user", 0, 1),)]
    disabled_at = deleted_user["disabled_at"]
    assert disabled_at.replace(tzinfo=disabled_at.tzinfo or UTC) == _at(0, 91)


# Migration 0009 (``courses.transcription_mode``): a course owner's choice survives a
# rollback (``KEEPS_SCHEMA_ON_DOWNGRADE``) and the upgrade runs again after that downgrade.


def _course_columns(engine: Engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("courses")}


def _modes(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, transcription_mode FROM courses"))
        return {row.id: row.transcription_mode for row in rows}


def test_0009_keeps_a_courses_mode_on_downgrade_and_upgrades_again(engine: Engine) -> None:
    upgrade(engine, "0008")
    assert "transcription_mode" not in _course_columns(engine)
    upgrade(engine, "0009")
    assert "transcription_mode" in _course_columns(engine)
    user, fast, unset = (str(uuid.uuid4()) for _ in range(3))
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, password_hash, is_admin, created_at) "
                "VALUES (:id, 'm@example.org', 'x', false, :now)"
            ),
            {"id": user, "now": now},
        )
        for course, mode in ((fast, "fast"), (unset, None)):
            connection.execute(
                text(
                    "INSERT INTO courses (id, owner_id, name, transcription_mode, created_at) "
                    "VALUES (:id, :owner, 'Bio', :mode, :now)"
                ),
                {"id": course, "owner": user, "mode": mode, "now": now},
            )

    downgrade(engine, "0008")
    assert _modes(engine) == {fast: "fast", unset: None}  # the column and its values stay

    upgrade(engine, "0009")  # idempotent: the column is there already
    assert _modes(engine) == {fast: "fast", unset: None}
