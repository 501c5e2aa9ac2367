"""The `page` table."""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_appbuilder import Model
from sqlalchemy import Boolean, DateTime, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedText
from app.core.models import utcnow


class HealthStatus(StrEnum):
    """A channel's health after its last check (None on the row: never checked)."""

    OK = "ok"
    WARNING = "warning"
    FAILING = "failing"


class AutoAssign(StrEnum):
    """How a page hands out new conversations (see app/conversations/assignment.py)."""

    OFF = "off"
    ROUND_ROBIN = "round_robin"
    BALANCED = "balanced"


class Page(Model):
    __tablename__ = "page"
    __table_args__ = (UniqueConstraint("ig_account_id", name="uq_page_ig_account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fb_page_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    access_token: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    token_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    retention_days: Mapped[int] = mapped_column(Integer, nullable=False, default=365, server_default="365")
    subscribed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=text("true"))
    needs_reauth: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("false"))
    reauth_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    token_updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # the law whose deadlines apply to this page's privacy requests unless one says otherwise
    default_jurisdiction: Mapped[str] = mapped_column(String(8), nullable=False, default="gdpr", server_default="gdpr")
    # Channel health (app/pages/health.py): the last check's verdict and what the token holds
    health_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    health_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    health_checked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    health_failing_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    token_scopes: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # the Page's Instagram professional account (Instagram Direct); unique when set
    ig_account_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # agent workspace (migration 0008): auto-assignment of arriving conversations, CSAT survey
    auto_assign: Mapped[str] = mapped_column(
        String(16), nullable=False, default=AutoAssign.OFF.value, server_default=AutoAssign.OFF.value
    )
    csat_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("false"))

    def set_token(self, token: str) -> None:
        """The only way a token is written: keeps token_last4 in step and clears re-auth."""
        self.access_token = token
        self.token_last4 = token[-4:] if token else None
        self.token_updated_at = utcnow()
        self.needs_reauth = False
        self.reauth_reason = None

    @property
    def token_hint(self) -> str:
        return f"…{self.token_last4}" if self.token_last4 else "(none)"

    def __repr__(self) -> str:
        return self.name
