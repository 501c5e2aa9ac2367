"""The `notification` table: one row per thing a person should look at (the navbar bell)."""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import utcnow


class NotificationKind(StrEnum):
    """Why someone is notified (stored as the plain value)."""

    MENTION = "mention"
    ASSIGNED = "assigned"
    PRIVACY_DUE = "privacy_due"
    PRIVACY_OVERDUE = "privacy_overdue"


#: What the notifications page says for each kind.
KIND_LABELS = {
    NotificationKind.MENTION: "mentioned you in a note",
    NotificationKind.ASSIGNED: "assigned you a conversation",
    NotificationKind.PRIVACY_DUE: "a privacy request is due soon",
    NotificationKind.PRIVACY_OVERDUE: "a privacy request is overdue",
}


class Notification(Model):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user_id", "user_id", "id"),  # the newest first, per person
        Index("ix_notification_user_read", "user_id", "read_at"),  # the bell's unread count
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    privacy_request_id: Mapped[int | None] = mapped_column(ForeignKey("privacy_request.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    actor: Mapped[User | None] = relationship(User, foreign_keys=[actor_id], lazy="joined")
    # by name: the conversations domain imports this one's services, not the other way round
    conversation: Mapped[Any] = relationship("Conversation", lazy="joined")

    def __repr__(self) -> str:
        return f"notification {self.id}"
