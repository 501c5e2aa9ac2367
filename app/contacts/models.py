"""The `contact` table."""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.channels import Channel, label
from app.core.crypto import EncryptedText
from app.core.models import utcnow
from app.pages.models import Page


class Contact(Model):
    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("page_id", "psid", name="uq_contact_page_psid"),
        # grid order is (last_inbound_at, id): FAB adds the pk as tie-breaker
        Index("ix_contact_page_last_inbound", "page_id", "last_inbound_at", "id"),
        Index("ix_contact_page_optout_last", "page_id", "marketing_opt_out", "last_inbound_at", "id"),
        Index("ix_contact_last_inbound", "last_inbound_at", "id"),
        Index("ix_contact_first_name", "first_name"),
        Index("ix_contact_last_name", "last_name"),
        Index("ix_contact_psid", "psid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), nullable=False)
    psid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    profile_pic: Mapped[str | None] = mapped_column(String(2048))
    locale: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(EncryptedText)
    tags: Mapped[str | None] = mapped_column(String(500))
    marketing_opt_out: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    is_minor: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("false"))
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("false"))
    restricted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("false"))
    profile_fetched_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime)
    # keyed hash of the PSID, kept after erasure so late webhook retries are discarded
    psid_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Instagram Direct: contacts keyed by IGSID (in `psid`) carry channel "instagram" and @username
    channel: Mapped[str] = mapped_column(
        String(16), nullable=False, default=Channel.MESSENGER.value, server_default=Channel.MESSENGER.value
    )
    username: Mapped[str | None] = mapped_column(String(255))

    page: Mapped[Page] = relationship(Page, lazy="joined")

    @property
    def display_name(self) -> str:
        if self.erased_at:
            return f"Erased contact ({self.erased_at.strftime('%d %B %Y')})"
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        if not name and self.username:
            return f"@{self.username}"
        return name or f"{label(self.channel)} user {(self.psid or '')[-4:]}"

    def __repr__(self) -> str:
        return self.display_name
