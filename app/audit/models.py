"""The `audit_log` table."""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_appbuilder import Model
from sqlalchemy import BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import JSONType, utcnow


class AuditLog(Model):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_created", "created_at"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_actor", "actor_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(255), nullable=False, default="system")
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[Any | None] = mapped_column(JSONType)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)

    def __repr__(self) -> str:
        return f"{self.action} {self.entity_type or ''} {self.entity_id or ''}".strip()


class AuditHead(Model):
    """One row: a signed copy of the chain's last row, so deleting the tail is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    signature: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditSegment(Model):
    """Where the live chain starts after older rows were archived: the archived tail's last hash,
    signed, so verify can start there instead of at the genesis hash."""

    __tablename__ = "audit_segment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    archived_through_id: Mapped[int] = mapped_column(Integer, nullable=False)
    archived_rows: Mapped[int] = mapped_column(Integer, nullable=False)
    start_prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    archive_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditArchiveGrant(Model):
    """PostgreSQL: the archive function's grant for its own transaction (migration 0005); only the
    table owner may write it, so no application session can open the audit guard itself."""

    __tablename__ = "audit_archive_grant"

    txid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
