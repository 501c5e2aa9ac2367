"""The `media_file` table: one row per stored attachment file of a message.

The bytes live in the media store (encrypted, `app.media.storage`); the row holds what the
product needs to serve, send and delete them. It cascades with its message, and the store's
file is removed by the service that deletes the row (erasure, retention, unsend).
"""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model is Any to mypy.)
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import utcnow


class MediaStatus(StrEnum):
    """pending → stored (bytes in the store) | rejected (host, type or size refused; never
    retried) | failed (fetch error after the last try) | deleted (unsent or erased)."""

    PENDING = "pending"
    STORED = "stored"
    REJECTED = "rejected"
    FAILED = "failed"
    DELETED = "deleted"


class MediaDirection(StrEnum):
    IN = "in"
    OUT = "out"


class MediaFile(Model):
    __tablename__ = "media_file"
    __table_args__ = (
        UniqueConstraint("message_id", "position", name="uq_media_file_message_position"),
        Index("ix_media_file_status", "status"),
        Index("ix_media_file_storage_key", "storage_key"),  # the orphan sweep's lookups
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), nullable=False)
    # Index of the attachment in `message.attachments`.
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    direction: Mapped[str] = mapped_column(String(3), nullable=False, default=MediaDirection.IN)
    # image / video / audio / file / sticker ... (Meta's attachment type)
    media_type: Mapped[str] = mapped_column(String(16), nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(127))
    size: Mapped[int | None] = mapped_column(Integer)
    # Key of the encrypted blob in the media store; null until stored, and again once deleted.
    storage_key: Mapped[str | None] = mapped_column(String(80))
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=MediaStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Outbound: Meta's reusable attachment id from the Attachment Upload API.
    attachment_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column(DateTime)
