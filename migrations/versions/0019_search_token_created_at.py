"""Search posting lists carry the message's time: `message_search_token.created_at`, in the
primary key (token, message_id, conversation_id, created_at), so a search with a date range
filters inside its index-only scans instead of reading `message` for every match.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLE = "message_search_token"
PK = "message_search_token_pkey"
INDEX = "ix_message_search_token_message"
KEY = ["token", "message_id", "conversation_id"]


def _sqlite_recreate(with_time: bool) -> None:
    """SQLite cannot change a primary key in place: copy into a new table and swap."""
    columns = [
        sa.Column("token", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.Integer(), autoincrement=False, nullable=False),
    ]
    if with_time:
        columns.append(sa.Column("created_at", sa.DateTime(), autoincrement=False, nullable=False))
    op.create_table(
        "_search_token_new",
        *columns,
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*KEY, *(["created_at"] if with_time else []), name=PK),
    )
    op.execute(
        "INSERT INTO _search_token_new SELECT t.token, t.message_id, t.conversation_id, m.created_at "
        "FROM message_search_token t JOIN message m ON m.id = t.message_id"
        if with_time
        else "INSERT INTO _search_token_new SELECT token, message_id, conversation_id FROM message_search_token"
    )
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)
    op.rename_table("_search_token_new", TABLE)
    op.create_index(INDEX, TABLE, ["message_id"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_recreate(with_time=True)
        return
    op.add_column(TABLE, sa.Column("created_at", sa.DateTime(), nullable=True))
    # a message's time never changes: copy it once
    op.execute("UPDATE message_search_token t SET created_at = m.created_at FROM message m WHERE m.id = t.message_id")
    op.execute("DELETE FROM message_search_token WHERE created_at IS NULL")  # orphans (none: foreign key)
    op.alter_column(TABLE, "created_at", existing_type=sa.DateTime(), nullable=False)
    op.drop_constraint(PK, TABLE, type_="primary")
    op.create_primary_key(PK, TABLE, [*KEY, "created_at"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_recreate(with_time=False)
        return
    op.drop_constraint(PK, TABLE, type_="primary")
    op.create_primary_key(PK, TABLE, KEY)
    op.drop_column(TABLE, "created_at")
