"""The agent workspace's tables: `canned_reply` and `conversation_note`."""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedText
from app.core.models import utcnow
from app.pages.models import Page


class CannedReply(Model):
    """A saved answer: `/shortcut` in the reply box; `{{contact.first_name}}`-style variables
    are filled in server-side for the conversation (app.conversations.canned)."""

    __tablename__ = "canned_reply"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"))  # None: every page
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    page: Mapped[Page | None] = relationship(Page)

    def __repr__(self) -> str:
        return f"/{self.shortcut}"


class ConversationNote(Model):
    """A private note on a conversation: staff only, never sent to Meta; text encrypted."""

    __tablename__ = "conversation_note"
    __table_args__ = (Index("ix_conversation_note_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"), nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    author: Mapped[User | None] = relationship(User, lazy="joined")

    def __repr__(self) -> str:
        return f"note {self.id}"
