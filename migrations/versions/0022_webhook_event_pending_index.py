"""A partial index on the never-tried pending webhook events, in id order: a batch's claim
(`app.webhooks.batch._claim_pending`) reads its 200 oldest pending events from it instead of
stepping over every processed event before them (a draining backlog made that quadratic: 9 ms
per claim at 18,000 processed events ahead, 0.3 ms with this index).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

WHERE = sa.text("status = 'pending' AND attempts = 0")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_event_pending", "webhook_event", ["id"], postgresql_where=WHERE, sqlite_where=WHERE
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_event_pending", table_name="webhook_event")
