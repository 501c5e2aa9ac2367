# Flask-AppBuilder ships no type hints: its Model base is Any to mypy.
# mypy: allow-subclassing-any
"""The `privacy_request` table."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.contacts.models import Contact
from app.core.crypto import EncryptedJSON, EncryptedText
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
    META_CALLBACK = "meta_callback"  # Meta's data-deletion callback (was `facebook_callback` before 0016)
    ACCOUNT = "account"
    MESSENGER = "messenger"  # the contact asked from inside Messenger / Instagram (signed webhook)
    WEB = "web"  # the public form at /privacy/request (e-mail verified by a one-time code)


class Jurisdiction(StrEnum):
    """Which law's clock runs: GDPR (one calendar month, extendable by two more months) or CCPA
    (45 days, extendable by 45 more)."""

    GDPR = "gdpr"
    CCPA = "ccpa"


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
    jurisdiction: Mapped[str] = mapped_column(
        String(8), nullable=False, default=Jurisdiction.GDPR.value, server_default=Jurisdiction.GDPR.value
    )
    extended_at: Mapped[datetime | None] = mapped_column(DateTime)
    extension_reason: Mapped[str | None] = mapped_column(Text)  # shown to the requester, no personal data
    original_due_at: Mapped[datetime | None] = mapped_column(DateTime)  # the due date before the extension
    requester_email: Mapped[str | None] = mapped_column(EncryptedText)  # where notices go, when known
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


class PolicyVersion(Model):
    """A published version of the privacy policy (§11): what /privacy shows, and since when."""

    __tablename__ = "policy_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    published_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    material: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))


class PolicyAcknowledgement(Model):
    """A staff member read a material policy change (audited; the banner goes away)."""

    __tablename__ = "policy_acknowledgement"
    __table_args__ = (UniqueConstraint("user_id", "policy_version_id", name="uq_policy_ack_user_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id", ondelete="CASCADE"), nullable=False)
    acknowledged_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
