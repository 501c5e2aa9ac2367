# Flask-AppBuilder ships no type hints: its Model base is Any to mypy.
# mypy: allow-subclassing-any
"""The `webhook_event` table: every POST body Meta sent, kept until processed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_appbuilder import Model
from sqlalchemy import DateTime, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedText
from app.core.models import utcnow


class EventStatus(StrEnum):
    """Where a stored event stands; one name per state so no module spells them differently."""

    PENDING = "pending"
    PROCESSED = "processed"
    SKIPPED = "skipped"
    ERROR = "error"


class WebhookEvent(Model):
    __tablename__ = "webhook_event"
    __table_args__ = (
        Index("ix_webhook_event_status_received", "status", "received_at"),
        Index("ix_webhook_event_received", "received_at"),
        # the batches' claim: the oldest never-tried pending events, read in id order without
        # stepping over every event already processed (migration 0022)
        Index(
            "ix_webhook_event_pending",
            "id",
            postgresql_where=text("status = 'pending' AND attempts = 0"),
            sqlite_where=text("status = 'pending' AND attempts = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # raw body, encrypted; deferred so grids and status checks never decrypt it
    payload: Mapped[str] = mapped_column(EncryptedText, nullable=False, deferred=True)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=EventStatus.PENDING.value, server_default=EventStatus.PENDING.value
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    page_fb_id: Mapped[str | None] = mapped_column(String(64))
    # keyed hashes of the PSIDs the event mentions ("|h1|h2|"), so erasure finds them
    psid_hashes: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(String(255))  # event kinds, no personal data

    def __repr__(self) -> str:
        return f"event {self.id}"
