"""An index on `media_file.storage_key`: the daily orphan sweep looks up which stored blobs a
row still names, a batch of keys at a time.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_media_file_storage_key", "media_file", ["storage_key"])


def downgrade() -> None:
    op.drop_index("ix_media_file_storage_key", table_name="media_file")
