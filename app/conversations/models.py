"""The `conversation` and `message` tables."""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy import text as sql_text  # `text` is also Message's column name
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.contacts.models import Contact
from app.core.crypto import EncryptedJSON, EncryptedText
from app.core.models import JSONType, utcnow
from app.pages.models import Page


class ConversationStatus(StrEnum):
    """Where a conversation stands in the inbox (stored as the plain value)."""

    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


class Direction(StrEnum):
    """Who wrote a message: the contact (`in`) or the page (`out`)."""

    IN = "in"
    OUT = "out"


class MessageStatus(StrEnum):
    """A message's life: `received` (inbound), then queued → sending → sent → delivered → read,
    or failed (outbound)."""

    RECEIVED = "received"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Priority(StrEnum):
    """How urgent a conversation is (stored as the plain value; default normal)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


#: Meta's standard reply window after the contact's last message (kept on the row as
#: `window_expires_at` by the webhook path, so the inbox never computes it per row).
REPLY_WINDOW = timedelta(hours=24)
#: Past the window, a HUMAN_AGENT-tagged reply is allowed until this long after the last message.
HUMAN_AGENT_SPAN = timedelta(days=7)
#: A new wait should get its first answer within this long (first_response_due_at).
FIRST_RESPONSE_TARGET = timedelta(hours=1)

#: The statuses an agent may pick, in menu order.
CONVERSATION_STATUSES = tuple(ConversationStatus)
#: Our replies carry `metadata = prefix + message id`; Meta's echo hands it back (webhooks).
OUR_METADATA_PREFIX = "omnicrm:"


class Conversation(Model):
    __tablename__ = "conversation"
    __table_args__ = (
        UniqueConstraint("page_id", "contact_id", name="uq_conversation_page_contact"),
        Index("ix_conversation_last_message_at", "last_message_at", "id"),
        Index("ix_conversation_status_last", "status", "last_message_at"),
        Index("ix_conversation_assignee_status", "assignee_id", "status"),
        Index("ix_conversation_contact", "contact_id"),
        # inbox queues (app/conversations/queues.py): needs reply by window end; window closed;
        # mine / unassigned longest waiting first
        Index("ix_conversation_awaiting_window", "awaiting_reply", "window_expires_at", "id"),
        Index("ix_conversation_status_window", "status", "window_expires_at", "id"),
        Index("ix_conversation_assignee_status_last", "assignee_id", "status", "last_message_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), nullable=False)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=ConversationStatus.OPEN.value, server_default=ConversationStatus.OPEN.value
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime)
    unread_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # agent workspace (migration 0006): the reply window's end, set when an inbound message is
    # applied; whether the last message is the contact's (nobody answered yet); labels shown
    # on the row (lower-case strings; `conversation_label` holds the same for filtering)
    window_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    awaiting_reply: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sql_text("false")
    )
    labels: Mapped[Any | None] = mapped_column(JSONType)
    priority: Mapped[str] = mapped_column(
        String(16), nullable=False, default=Priority.NORMAL.value, server_default=Priority.NORMAL.value
    )
    first_response_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="messenger", server_default="messenger")
    # `unread_count` is the assignee's (or, unassigned, the team's): only they clear it by opening
    assignee_read_at: Mapped[datetime | None] = mapped_column(DateTime)
    # CSAT (migration 0008): the survey sent on close, the contact's 1-5 answer and when
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_requested_at: Mapped[datetime | None] = mapped_column(DateTime)
    csat_answered_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)

    page: Mapped[Page] = relationship(Page, lazy="joined")
    contact: Mapped[Contact] = relationship(Contact, lazy="joined")
    assignee: Mapped[User | None] = relationship(User, lazy="joined")

    def __repr__(self) -> str:
        return f"#{self.id} {self.contact.display_name if self.contact else ''}".strip()

    def note_inbound(self, ts: datetime) -> None:
        """The contact wrote at `ts`: the window runs from their latest message, and the
        conversation waits for an answer (called by the webhook path for every inbound item)."""
        latest = max(self.last_inbound_at or ts, ts)
        self.window_expires_at = latest + REPLY_WINDOW
        if not self.awaiting_reply and self.first_response_at is None and self.first_response_due_at is None:
            self.first_response_due_at = ts + FIRST_RESPONSE_TARGET
        self.awaiting_reply = True

    def note_outbound(self) -> None:
        """The page answered (a reply queued here, or one sent from elsewhere: an echo)."""
        self.awaiting_reply = False


class ConversationLabel(Model):
    """One label of one conversation: the filterable copy of `conversation.labels`.

    The JSON column is what rows display; this table, with its (label, conversation_id)
    index, is what `?label=X` reads, so filtering stays an index lookup at 1 M conversations.
    Both are written together by `app.conversations.labels.set_labels`.
    """

    __tablename__ = "conversation_label"
    __table_args__ = (Index("ix_conversation_label_label", "label", "conversation_id"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    label: Mapped[str] = mapped_column(String(32), primary_key=True)


class Message(Model):
    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_conversation_created", "conversation_id", "created_at", "id"),
        Index("ix_message_status", "status"),
        Index("ix_message_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"), nullable=False)
    mid: Mapped[str | None] = mapped_column(String(255), unique=True)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)  # in / out
    author_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    text: Mapped[str | None] = mapped_column(EncryptedText)
    attachments: Mapped[Any | None] = mapped_column(EncryptedJSON)  # list of {type, url}
    kind: Mapped[str] = mapped_column(String(32), nullable=False, default="text", server_default="text")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=MessageStatus.RECEIVED.value)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    messaging_type: Mapped[str | None] = mapped_column(String(32))
    tag: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    # outbound delivery bookkeeping: when the current send attempt began (reconcile finds rows
    # stuck in "sending") and when a retry after a transient Graph error is due
    send_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    meta: Mapped[Any | None] = mapped_column(JSONType)  # non-personal extras: reaction, postback kind
    # inserted by `channels backfill` from the Conversations API (missed while the webhook was down)
    recovered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=sql_text("false"))

    conversation: Mapped[Conversation] = relationship(Conversation)
    author: Mapped[User | None] = relationship(User, lazy="joined")

    def __repr__(self) -> str:
        return f"message {self.id}"
