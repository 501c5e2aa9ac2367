"""Scale indexes that only PostgreSQL has (no-op elsewhere).

- pg_trgm GIN indexes on contact first/last name: the grid's "contains" / "starts with"
  filters are ``ILIKE '%x%'``, which no B-tree can serve; without these a name search reads
  every contact.
- The inbox order (unassigned first, then oldest last message) as an expression index, so
  ``/conversations/`` reads 100 index entries instead of sorting every open conversation.

Plain composite indexes that work on every database live on the models (0001).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_contact_first_name_trgm": "contact USING gin (first_name gin_trgm_ops)",
    "ix_contact_last_name_trgm": "contact USING gin (last_name gin_trgm_ops)",
    "pgx_conversation_inbox": "conversation (status, (assignee_id IS NOT NULL), last_message_at, id)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
