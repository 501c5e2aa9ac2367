"""What Admin → Outbox shows: the mail rows with their status, and (embedded server only) the
text as it arrived through SMTP.

With a real `MAIL_SERVER` the bodies are not shown: they may hold a requester's one-time code
or export link, which no staff member should read. On the embedded default nothing leaves the
machine, and seeing the mail is the point (demo, development).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app import db
from app.mail import embedded
from app.mail.models import MailMessage

PAGE_SIZE = 50


@dataclass
class OutboxPage:
    rows: list[MailMessage]
    total: int
    page: int
    pages: int


def embedded_mode() -> bool:
    return not current_app.config.get("MAIL_SERVER")


def list_page(page: int) -> OutboxPage:
    total = int(db.session.scalar(select(func.count()).select_from(MailMessage)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(
        select(MailMessage).order_by(MailMessage.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    return OutboxPage(list(rows), total, page, pages)


def received_copy(row: MailMessage) -> embedded.StoredMail | None:
    """The copy the embedded server received (None with a real server, or not yet sent)."""
    if not embedded_mode():
        return None
    cfg: dict[str, Any] = current_app.config
    return embedded.find(str(cfg["MAIL_STORE_DIR"]), row.message_id)
