"""compliance: audit log, deletions with receipts, tombstones, per-course PII policy

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Expand only (nullable columns, columns with server defaults, new tables), so the previous
release runs on this schema:

- ``audit_events`` and ``audit_chain_head``: the append-only, hash-chained audit log; the
  head row (id 1) is created here with the genesis hash.
- ``deletions``: deletion requests, purged in the background, each with its receipt.
- ``users.deleted_at``, ``courses.deleted_at``, ``lectures.deleted_at``: tombstones set when
  a deletion is requested.
- ``courses.redaction_kinds``, ``courses.roster_names``, ``courses.audio_retention_days``:
  the course's PII policy; ``lectures.audio_deleted_at``: when retention removed the audio.

The downgrade KEEPS these tables and columns (``KEEPS_SCHEMA_ON_DOWNGRADE``): the audit
log, the deletion receipts and the courses' PII policies are evidence and settings nobody
may lose to a rollback, and the previous release ignores what it does not know (the new
NOT NULL columns have server defaults, so its inserts work). It only changes the data the
previous release would misread: it knows no tombstones, so the rows of everything whose
deletion is pending are deleted (the deletion stays pending and, after the next upgrade,
its purge removes the objects and completes), and a user being deleted is disabled.
The upgrade creates only what is missing, so it runs again after such a downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
#: The downgrade leaves this revision's tables and columns in place (see the docstring);
#: tests/integration/test_migrations.py and the rollback drill read it.
KEEPS_SCHEMA_ON_DOWNGRADE = True


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("audit_events"):
        _create_audit_log()
    if not inspector.has_table("deletions"):
        _create_deletions()
    for table, columns in _new_columns().items():
        present = {column["name"] for column in inspector.get_columns(table)}
        missing = [column for column in columns if column.name not in present]
        if missing:
            with op.batch_alter_table(table) as batch:
                for column in missing:
                    batch.add_column(column)


def _create_audit_log() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_events_prev_hash")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"])
    op.create_index(op.f("ix_audit_events_actor_id"), "audit_events", ["actor_id"])
    op.create_index(op.f("ix_audit_events_subject_id"), "audit_events", ["subject_id"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "last_hash": GENESIS_HASH}])


def _create_deletions() -> None:
    op.create_table(
        "deletions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=True),
        sa.Column("requested_by", sa.String(length=36), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("prefixes", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error_code", sa.String(length=64), nullable=True),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("verification", sa.JSON(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletions")),
    )
    op.create_index(op.f("ix_deletions_subject_id"), "deletions", ["subject_id"])
    op.create_index(op.f("ix_deletions_owner_id"), "deletions", ["owner_id"])
    op.create_index(
        "ix_deletions_status_next_attempt_at", "deletions", ["status", "next_attempt_at"]
    )


def _new_columns() -> dict[str, list[sa.Column[object]]]:
    def when(name: str) -> sa.Column[object]:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=True)

    return {
        "users": [when("deleted_at")],
        "courses": [
            when("deleted_at"),
            sa.Column(
                "redaction_kinds",
                sa.JSON(),
                nullable=False,
                server_default=sa.text('\'["email", "phone", "id_number", "roster_name"]\''),
            ),
            sa.Column("roster_names", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
            sa.Column("audio_retention_days", sa.Integer(), nullable=True),
        ],
        "lectures": [when("deleted_at"), when("audio_deleted_at")],
    }


def downgrade() -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.String()),
        sa.column("deleted_at", sa.DateTime(timezone=True)),
        sa.column("disabled_at", sa.DateTime(timezone=True)),
    )
    courses = sa.table(
        "courses", sa.column("id", sa.String()), sa.column("deleted_at", sa.DateTime(timezone=True))
    )
    lectures = sa.table(
        "lectures",
        sa.column("id", sa.String()),
        sa.column("course_id", sa.String()),
        sa.column("deleted_at", sa.DateTime(timezone=True)),
    )
    # Children first: SQLite migrations run with foreign keys off (no cascades).
    dead_courses = sa.select(courses.c.id).where(courses.c.deleted_at.is_not(None))
    dead_lectures = sa.select(lectures.c.id).where(
        sa.or_(lectures.c.deleted_at.is_not(None), lectures.c.course_id.in_(dead_courses))
    )
    for table in ("transcript_segments", "artifacts", "stage_runs"):
        child = sa.table(table, sa.column("lecture_id", sa.String()))
        op.execute(child.delete().where(child.c.lecture_id.in_(dead_lectures)))
    op.execute(lectures.delete().where(lectures.c.id.in_(dead_lectures)))
    for table in ("uploads", "presets"):
        child = sa.table(table, sa.column("course_id", sa.String()))
        op.execute(child.delete().where(child.c.course_id.in_(dead_courses)))
    op.execute(courses.delete().where(courses.c.deleted_at.is_not(None)))
    op.execute(
        users.update()
        .where(users.c.deleted_at.is_not(None), users.c.disabled_at.is_(None))
        .values(disabled_at=users.c.deleted_at)
    )
