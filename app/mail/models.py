"""The `mail_message` table: every mail the product sends, queued durably before it is sent.

The row is committed with the business change that caused it and the job carries only its id,
so a mail is never lost when Redis is down (the sweeper queues it later) and neither the
address nor the body ever sits in Redis. Address, subject and body are encrypted like message
text.
"""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model is Any to mypy.)
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_appbuilder import Model
from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedText
from app.core.models import utcnow


class MailStatus(StrEnum):
    """queued → sending → sent; a failed try goes back to queued with a later `next_attempt_at`,
    and to failed after the last one (an Admin can re-queue it)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class MailMessage(Model):
    __tablename__ = "mail_message"
    __table_args__ = (Index("ix_mail_message_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    to_address: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    subject: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    body: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def message_id(self) -> str:
        """The Message-ID header we send, so the embedded outbox can find the received copy."""
        return f"<omnicrm-mail-{self.id}@omnicrm.local>"
