# Flask-AppBuilder ships no type hints: its Model base is Any to mypy.
# mypy: allow-subclassing-any
"""The `privacy_export_link` table: the requester's single-use download links of an access export.

Only the SHA-256 of the token is stored (the token itself exists in the notice alone). A
request has at most one live link: issuing a new one revokes the others.
"""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import utcnow

MAX_WRONG_CODES = 5


class PrivacyExportLink(Model):
    __tablename__ = "privacy_export_link"
    __table_args__ = (Index("ix_privacy_export_link_request", "privacy_request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    privacy_request_id: Mapped[int] = mapped_column(
        ForeignKey("privacy_request.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)  # a newer link replaced it
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))  # None: the job

    def state(self, now: datetime) -> str:
        """What staff see: used, revoked, burned (too many wrong codes), expired or active."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.failed_attempts >= MAX_WRONG_CODES:
            return "burned"
        if self.expires_at <= now:
            return "expired"
        return "active"
