"""Agent workspace: auto-assignment, availability and capacity, CSAT.

- `page.auto_assign` (`off`/`round_robin`/`balanced`) and `page.csat_enabled`.
- `conversation.csat_score` (1-5), `csat_requested_at` (survey sent), `csat_answered_at`.
- `user_availability`: one row per staff user (`online`/`away`, capacity, last assignment).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("page") as batch:
        batch.add_column(sa.Column("auto_assign", sa.String(16), nullable=False, server_default="off"))
        batch.add_column(sa.Column("csat_enabled", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("csat_score", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("csat_requested_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("csat_answered_at", sa.DateTime(), nullable=True))
    op.create_index("ix_conversation_csat_answered_at", "conversation", ["csat_answered_at"])
    op.create_table(
        "user_availability",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("availability", sa.String(16), nullable=False, server_default="away"),
        sa.Column("capacity", sa.Integer(), nullable=False, server_default="20"),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_assigned_at", sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("user_availability")
    op.drop_index("ix_conversation_csat_answered_at", table_name="conversation")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("csat_answered_at")
        batch.drop_column("csat_requested_at")
        batch.drop_column("csat_score")
    with op.batch_alter_table("page") as batch:
        batch.drop_column("csat_enabled")
        batch.drop_column("auto_assign")
