"""account lifecycle: disabled users, token expiry, session devices, sign-in throttling

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Expand only (nullable columns and a new table), so the previous release runs on this schema:

- ``users.disabled_at``: set by an admin; a disabled user cannot sign in, and their sessions
  and tokens stop working.
- ``api_tokens.expires_at``: an optional expiry (NULL: until revoked).
- ``web_sessions.user_agent``: the browser at sign-in, so a person can tell sessions apart.
- ``sign_in_throttles``: failed sign-ins per account and per client address in a fixed
  window, shared by every replica.

The downgrade keeps what the older schema can express: a disabled user's password hash gets
the prefix ``disabled:`` (no password matches it, so the older code refuses the sign-in and
this upgrade disables the user again and restores the hash), their sessions end and their
tokens are revoked; a token that expired is revoked as of its expiry. A token whose expiry
is still ahead works on the older code until it is revoked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: What the downgrade puts before a disabled user's password hash (see the docstring).
DISABLED_HASH_PREFIX = "disabled:"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("user_agent", sa.String(length=300), nullable=True))
    op.create_table(
        "sign_in_throttles",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttles")),
    )
    op.create_index(
        op.f("ix_sign_in_throttles_window_started_at"), "sign_in_throttles", ["window_started_at"]
    )
    # Users a downgrade marked as disabled are disabled again, with their own hash back.
    users = sa.table(
        "users",
        sa.column("password_hash", sa.String()),
        sa.column("disabled_at", sa.DateTime(timezone=True)),
    )
    marked = users.c.password_hash.startswith(DISABLED_HASH_PREFIX)
    op.execute(
        users.update()
        .where(marked)
        .values(
            disabled_at=sa.func.current_timestamp(),
            password_hash=sa.func.substr(users.c.password_hash, len(DISABLED_HASH_PREFIX) + 1),
        )
    )


def downgrade() -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.String()),
        sa.column("password_hash", sa.String()),
        sa.column("disabled_at", sa.DateTime(timezone=True)),
    )
    tokens = sa.table(
        "api_tokens",
        sa.column("user_id", sa.String()),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    sessions = sa.table("web_sessions", sa.column("user_id", sa.String()))
    disabled_ids = sa.select(users.c.id).where(users.c.disabled_at.is_not(None))
    disabled_since = (
        sa.select(users.c.disabled_at).where(users.c.id == tokens.c.user_id).scalar_subquery()
    )
    op.execute(
        tokens.update()
        .where(tokens.c.revoked_at.is_(None), tokens.c.user_id.in_(disabled_ids))
        .values(revoked_at=disabled_since)
    )
    op.execute(
        tokens.update()
        .where(
            tokens.c.revoked_at.is_(None),
            tokens.c.expires_at.is_not(None),
            tokens.c.expires_at <= sa.func.current_timestamp(),
        )
        .values(revoked_at=tokens.c.expires_at)
    )
    op.execute(sessions.delete().where(sessions.c.user_id.in_(disabled_ids)))
    op.execute(
        users.update()
        .where(
            users.c.disabled_at.is_not(None),
            sa.not_(users.c.password_hash.startswith(DISABLED_HASH_PREFIX)),
        )
        .values(password_hash=sa.literal(DISABLED_HASH_PREFIX) + users.c.password_hash)
    )
    op.drop_index(op.f("ix_sign_in_throttles_window_started_at"), table_name="sign_in_throttles")
    op.drop_table("sign_in_throttles")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("user_agent")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
