"""Search over encrypted messages: the blind index `message_search_token` (keyed word hashes,
never words) and `search_index_state` (progress of `search backfill` / `search rebuild`).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_search_token",
        sa.Column("token", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token", "message_id"),
    )
    op.create_index("ix_message_search_token_message", "message_search_token", ["message_id"])
    op.create_table(
        "search_index_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("last_message_id", sa.Integer(), server_default="0", nullable=False),
        sa.Column("done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("search_index_state")
    op.drop_index("ix_message_search_token_message", table_name="message_search_token")
    op.drop_table("message_search_token")
