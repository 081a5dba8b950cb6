"""transcription mode per course

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Expand only: ``courses.transcription_mode``, nullable (``fast`` or ``accurate``; NULL: the
server's ``PEGASUS_TRANSCRIPTION_MODE``), so the previous release runs on this schema.

The downgrade KEEPS the column (``KEEPS_SCHEMA_ON_DOWNGRADE``): it is a setting a course
owner chose, which a rollback must not lose, and the previous release ignores a column it
does not know. So the code of this release still runs after a downgrade, and the upgrade
adds the column only when it is missing, so it runs again after such a downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: The downgrade leaves this revision's column in place (see the docstring);
#: tests/integration/test_migrations.py and the rollback drill read it.
KEEPS_SCHEMA_ON_DOWNGRADE = True


def upgrade() -> None:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("courses")}
    if "transcription_mode" not in present:
        with op.batch_alter_table("courses") as batch:
            batch.add_column(sa.Column("transcription_mode", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Nothing to change: the column stays, and the previous release never reads it."""
