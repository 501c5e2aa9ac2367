"""Mail and privacy deadlines: the `mail_message` table (queued durably, sent by the
`send_mail` job); a privacy request's jurisdiction, extension and requester e-mail; a page's
default jurisdiction.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("to_address", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_mail_message_status_next", "mail_message", ["status", "next_attempt_at"])
    with op.batch_alter_table("privacy_request") as batch:
        batch.add_column(sa.Column("jurisdiction", sa.String(8), nullable=False, server_default="gdpr"))
        batch.add_column(sa.Column("extended_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("extension_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("original_due_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("requester_email", sa.Text(), nullable=True))
    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False, unique=True),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("published_by_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_table(
        "policy_acknowledgement",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "policy_version_id", sa.Integer(), sa.ForeignKey("policy_version.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "policy_version_id", name="uq_policy_ack_user_version"),
    )
    with op.batch_alter_table("page") as batch:
        batch.add_column(sa.Column("default_jurisdiction", sa.String(8), nullable=False, server_default="gdpr"))


def downgrade() -> None:
    op.drop_table("policy_acknowledgement")
    op.drop_table("policy_version")
    with op.batch_alter_table("page") as batch:
        batch.drop_column("default_jurisdiction")
    with op.batch_alter_table("privacy_request") as batch:
        for column in ("requester_email", "original_due_at", "extension_reason", "extended_at", "jurisdiction"):
            batch.drop_column(column)
    op.drop_index("ix_mail_message_status_next", table_name="mail_message")
    op.drop_table("mail_message")
