"""transcript segments with full-text search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

SQLite: an external-content FTS5 table (porter stemming) kept in sync by triggers.
PostgreSQL: a generated tsvector column (English configuration) with a GIN index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    """CREATE VIRTUAL TABLE transcript_segments_fts USING fts5(
        text, content='transcript_segments', content_rowid='id',
        tokenize='porter unicode61'
    )""",
    """CREATE TRIGGER transcript_segments_ai AFTER INSERT ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER transcript_segments_ad AFTER DELETE ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER transcript_segments_au AFTER UPDATE ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO transcript_segments_fts(rowid, text) VALUES (new.id, new.text);
    END""",
]


def upgrade() -> None:
    op.create_table(
        "transcript_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lecture_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lecture_id"],
            ["lectures.id"],
            name=op.f("fk_transcript_segments_lecture_id_lectures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_segments")),
        sa.UniqueConstraint("lecture_id", "position", name="uq_transcript_segments_position"),
    )
    op.create_index(
        op.f("ix_transcript_segments_lecture_id"), "transcript_segments", ["lecture_id"]
    )
    op.create_index(op.f("ix_transcript_segments_owner_id"), "transcript_segments", ["owner_id"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute(
            "ALTER TABLE transcript_segments ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_transcript_segments_search ON transcript_segments "
            "USING gin (search_vector)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS transcript_segments_{trigger}")
        op.execute("DROP TABLE IF EXISTS transcript_segments_fts")
    op.drop_index(op.f("ix_transcript_segments_owner_id"), table_name="transcript_segments")
    op.drop_index(op.f("ix_transcript_segments_lecture_id"), table_name="transcript_segments")
    op.drop_table("transcript_segments")
