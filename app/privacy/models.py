# Flask-AppBuilder ships no type hints: its Model base is Any to mypy.
# mypy: allow-subclassing-any
"""The `privacy_request` table."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.contacts.models import Contact
from app.core.crypto import EncryptedJSON
from app.core.models import utcnow


class RequestStatus(StrEnum):
    """Where a request stands; the values are what the `status` column stores."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    IN_PROCESSING = "in_processing"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELED = "canceled"


class RequestType(StrEnum):
    """The data-subject right asked for; the values are what `request_type` stores."""

    ACCESS = "access"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    MARKETING_OPT_OUT = "marketing_opt_out"


class RequestSource(StrEnum):
    """Who opened the request; the values are what `source` stores."""

    STAFF = "staff"
    FACEBOOK_CALLBACK = "facebook_callback"
    ACCOUNT = "account"


# still being worked on: counts towards the due date, blocks a second request of the same kind
OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.IN_PROCESSING, RequestStatus.ERROR)
# plain strings, in this order: the dashboard and the metrics list one count per status
REQUEST_STATUSES = tuple(s.value for s in RequestStatus)


class PrivacyRequest(Model):
    __tablename__ = "privacy_request"
    __table_args__ = (
        Index("ix_privacy_request_status_due", "status", "due_at"),
        Index("ix_privacy_request_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_type: Mapped[str] = mapped_column(String(32), nullable=False)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=RequestStatus.PENDING.value, server_default=RequestStatus.PENDING.value
    )
    source: Mapped[str] = mapped_column(
        String(32), nullable=False, default=RequestSource.STAFF.value, server_default=RequestSource.STAFF.value
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmation_code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)  # denial / cancel reason (no personal data)
    details: Mapped[Any | None] = mapped_column(EncryptedJSON)  # e.g. rectification field changes
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    result: Mapped[str | None] = mapped_column(Text)  # outcome summary, no personal data
    error: Mapped[str | None] = mapped_column(Text)
    export_path: Mapped[str | None] = mapped_column(String(1024))
    export_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    subject_ref: Mapped[str | None] = mapped_column(String(64))  # keyed hash: who, without who
    overdue_flagged_at: Mapped[datetime | None] = mapped_column(DateTime)  # audited once when overdue
    identity_check: Mapped[str | None] = mapped_column(Text)  # how the requester's identity was checked
    identity_verified: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )

    contact: Mapped[Contact | None] = relationship(Contact, lazy="joined")
    requested_by: Mapped[User | None] = relationship(User, foreign_keys=[requested_by_id], lazy="joined")
    approved_by: Mapped[User | None] = relationship(User, foreign_keys=[approved_by_id], lazy="joined")
    subject_user: Mapped[User | None] = relationship(User, foreign_keys=[subject_user_id])

    def __repr__(self) -> str:
        return f"{self.request_type} request #{self.id}"
