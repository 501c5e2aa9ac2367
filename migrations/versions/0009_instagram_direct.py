"""Instagram Direct: a Page's linked Instagram account, the channel of contacts (the
conversation's comes with 0006) and the contact's @username.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("page") as batch:
        batch.add_column(sa.Column("ig_account_id", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_page_ig_account_id", ["ig_account_id"])
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default="messenger"))
        batch.add_column(sa.Column("username", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("username")
        batch.drop_column("channel")
    with op.batch_alter_table("page") as batch:
        batch.drop_constraint("uq_page_ig_account_id", type_="unique")
        batch.drop_column("ig_account_id")
