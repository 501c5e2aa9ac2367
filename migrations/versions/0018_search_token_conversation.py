"""Search posting lists carry the conversation: `message_search_token.conversation_id`, in the
primary key (token, message_id, conversation_id), so a search intersects and groups by
conversation with index-only scans instead of reading `message` for every match.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TABLE = "message_search_token"
PK = "message_search_token_pkey"
INDEX = "ix_message_search_token_message"


def _sqlite_recreate(with_conversation: bool) -> None:
    """SQLite cannot change a primary key in place: copy into a new table and swap."""
    columns = [
        sa.Column("token", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.Integer(), autoincrement=False, nullable=False),
    ]
    key = ["token", "message_id"]
    if with_conversation:
        columns.append(sa.Column("conversation_id", sa.Integer(), autoincrement=False, nullable=False))
        key.append("conversation_id")
    op.create_table(
        "_search_token_new",
        *columns,
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*key, name=PK),
    )
    op.execute(
        "INSERT INTO _search_token_new SELECT t.token, t.message_id, m.conversation_id "
        "FROM message_search_token t JOIN message m ON m.id = t.message_id"
        if with_conversation
        else "INSERT INTO _search_token_new SELECT token, message_id FROM message_search_token"
    )
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)
    op.rename_table("_search_token_new", TABLE)
    op.create_index(INDEX, TABLE, ["message_id"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_recreate(with_conversation=True)
        return
    op.add_column(TABLE, sa.Column("conversation_id", sa.Integer(), nullable=True))
    # a message never moves to another conversation: copy it once
    op.execute(
        "UPDATE message_search_token t SET conversation_id = m.conversation_id FROM message m WHERE m.id = t.message_id"
    )
    op.execute("DELETE FROM message_search_token WHERE conversation_id IS NULL")  # orphans (none: foreign key)
    op.alter_column(TABLE, "conversation_id", existing_type=sa.Integer(), nullable=False)
    op.drop_constraint(PK, TABLE, type_="primary")
    op.create_primary_key(PK, TABLE, ["token", "message_id", "conversation_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_recreate(with_conversation=False)
        return
    op.drop_constraint(PK, TABLE, type_="primary")
    op.create_primary_key(PK, TABLE, ["token", "message_id"])
    op.drop_column(TABLE, "conversation_id")
