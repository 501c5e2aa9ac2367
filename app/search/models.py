"""The blind index: `message_search_token` (keyed word hashes) and the rebuild bookkeeping."""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model is Any to mypy.)
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import utcnow


class MessageSearchToken(Model):
    """One (word token, message) pair. `token` is the first 8 bytes of
    HMAC-SHA256(SEARCH_KEY, normalised word) as a signed 64-bit integer: never a word, never an
    unkeyed hash. The primary key (token, message_id, conversation_id, created_at) is the posting
    list an AND query intersects; the message_id index serves deletes (erasure, retention,
    unsend, edits)."""

    __tablename__ = "message_search_token"
    __table_args__ = (Index("ix_message_search_token_message", "message_id"),)

    token: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("message.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    #: the message's conversation (a message never moves), in the key so that a search's
    #: intersection and grouping by conversation are index-only; free in size (the 12-byte
    #: row and index entry are padded to 16 anyway)
    conversation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: the message's time (never changes), in the key so that a date-filtered search filters
    #: inside the same index-only scans instead of reading `message` for every match
    created_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True, autoincrement=False)


class SearchIndexState(Model):
    """Progress of a `search backfill` / `search rebuild` run, so an interrupted one resumes.

    `key_fingerprint` is a keyed hash of a fixed label under SEARCH_KEY (not the key): a run
    started under another key starts again from the first message."""

    __tablename__ = "search_index_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    last_message_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
