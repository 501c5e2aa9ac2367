"""Agent workspace: inbox queues by reply window, labels, priority, channel, per-assignee read.

- ``conversation.window_expires_at`` (end of the 24-hour window), ``awaiting_reply`` (the last
  message is the contact's), ``first_response_due_at``: kept by the webhook path; backfilled
  here from ``last_inbound_at`` / ``last_message_at``.
- ``conversation.labels`` (JSON list shown on rows) + ``conversation_label`` (one row per
  label, indexed by (label, conversation_id)) so ``?label=X`` is an index lookup; ``priority``
  (low/normal/high/urgent), ``channel`` (messenger/instagram), ``assignee_read_at``.
- Indexes for the queues: (awaiting_reply, window_expires_at, id), (status, window_expires_at,
  id), (assignee_id, status, last_message_at, id).

Revision ID: 0006
Revises: 0005_audit_wipe
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005_audit_wipe"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

INDEXES = {
    "ix_conversation_awaiting_window": ["awaiting_reply", "window_expires_at", "id"],
    "ix_conversation_status_window": ["status", "window_expires_at", "id"],
    "ix_conversation_assignee_status_last": ["assignee_id", "status", "last_message_at", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("window_expires_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("awaiting_reply", sa.Boolean(), nullable=False, server_default=sa.text("false")))
        batch.add_column(sa.Column("labels", JSONType, nullable=True))
        batch.add_column(sa.Column("priority", sa.String(length=16), nullable=False, server_default="normal"))
        batch.add_column(sa.Column("first_response_due_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default="messenger"))
        batch.add_column(sa.Column("assignee_read_at", sa.DateTime(), nullable=True))
    op.create_table(
        "conversation_label",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "label"),
    )
    op.create_index("ix_conversation_label_label", "conversation_label", ["label", "conversation_id"])
    _backfill()
    for name, columns in INDEXES.items():
        op.create_index(name, "conversation", columns)


def _backfill() -> None:
    """Existing rows: the window ends 24 h after the last inbound message; a conversation whose
    last message is the contact's waits for a reply."""
    if op.get_bind().dialect.name == "postgresql":
        expires = "last_inbound_at + interval '24 hours'"
    else:
        expires = "strftime('%Y-%m-%d %H:%M:%f', last_inbound_at, '+24 hours')"
    op.execute(f"UPDATE conversation SET window_expires_at = {expires} WHERE last_inbound_at IS NOT NULL")
    op.execute(
        "UPDATE conversation SET awaiting_reply = true WHERE last_inbound_at IS NOT NULL "
        "AND (last_message_at IS NULL OR last_inbound_at >= last_message_at)"
    )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="conversation")
    op.drop_index("ix_conversation_label_label", table_name="conversation_label")
    op.drop_table("conversation_label")
    with op.batch_alter_table("conversation") as batch:
        for column in (
            "assignee_read_at",
            "channel",
            "first_response_due_at",
            "priority",
            "labels",
            "awaiting_reply",
            "window_expires_at",
        ):
            batch.drop_column(column)
