"""edit versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``artifacts.version``: bumped by every write of a stored object (pipeline stage or review
edit). Review edits bump it as their first statement, which takes the row's write lock and
so serializes concurrent edits; the transcript and kit GETs send it as their ETag. Existing
rows start at 1. Per-item versions live in the stored JSON (they default to 1 there).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("version")
