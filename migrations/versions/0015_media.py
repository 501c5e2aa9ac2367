"""Media files: stored attachment files of messages (inbound fetched from Meta's CDN, outbound
uploaded by agents), encrypted in the media store.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("message.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("media_type", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(127), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("storage_key", sa.String(80), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("attachment_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("message_id", "position", name="uq_media_file_message_position"),
    )
    op.create_index("ix_media_file_status", "media_file", ["status"])


def downgrade() -> None:
    op.drop_index("ix_media_file_status", table_name="media_file")
    op.drop_table("media_file")
