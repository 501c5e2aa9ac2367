"""privacy_export_link: the requester's single-use, expiring download links of an access export
(only the token's SHA-256 is stored).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_export_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "privacy_request_id",
            sa.Integer(),
            sa.ForeignKey("privacy_request.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("issued_by_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_privacy_export_link_request", "privacy_export_link", ["privacy_request_id"])


def downgrade() -> None:
    op.drop_index("ix_privacy_export_link_request", table_name="privacy_export_link")
    op.drop_table("privacy_export_link")
