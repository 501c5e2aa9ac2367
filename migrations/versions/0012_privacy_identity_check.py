"""privacy_request.identity_check (how identity was checked) and identity_verified.

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_request") as batch:
        batch.add_column(sa.Column("identity_check", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("identity_verified", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )


def downgrade() -> None:
    with op.batch_alter_table("privacy_request") as batch:
        batch.drop_column("identity_verified")
        batch.drop_column("identity_check")
