"""Channel health: the last check's verdict on `page`, and `message.recovered` for backfilled
messages (docs/channels.md).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PAGE_COLUMNS = (
    ("health_status", sa.String(16)),
    ("health_reason", sa.String(1000)),
    ("health_checked_at", sa.DateTime()),
    ("health_failing_since", sa.DateTime()),
    ("token_expires_at", sa.DateTime()),
    ("token_scopes", sa.String(1000)),
)


def upgrade() -> None:
    with op.batch_alter_table("page") as batch:
        for name, type_ in PAGE_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("recovered", sa.Boolean(), nullable=False, server_default=sa.text("false")))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("recovered")
    with op.batch_alter_table("page") as batch:
        for name, _type in reversed(PAGE_COLUMNS):
            batch.drop_column(name)
