"""The drain: claim queued mails one by one, hand them to SMTP, record the outcome.

A claim is an UPDATE ... WHERE status = 'queued' that only one worker wins, so two workers
never send the same mail. A worker killed mid-send leaves the row 'sending'; after
`STALE_SENDING` it is queued again (SMTP gives no way to ask whether it arrived, so such a
mail may arrive twice — better than never).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app import db
from app.audit import service as audit
from app.core.models import utcnow
from app.mail import embedded
from app.mail.compose import build_message
from app.mail.exceptions import MailError
from app.mail.models import MailMessage, MailStatus
from app.mail.services import sender

logger = logging.getLogger(__name__)

#: seconds to wait after the 1st, 2nd, ... failed try; after the last the mail is failed.
BACKOFF = (30, 120, 600, 1800, 3600)
MAX_ATTEMPTS = len(BACKOFF) + 1
BATCH = 50
STALE_SENDING = timedelta(minutes=10)
SMTP_TIMEOUT = 10


def server_address() -> tuple[str, int]:
    """`MAIL_SERVER:MAIL_PORT`, or the embedded server (started on first use)."""
    cfg: dict[str, Any] = current_app.config
    if cfg.get("MAIL_SERVER"):
        return str(cfg["MAIL_SERVER"]), int(cfg.get("MAIL_PORT") or 25)
    return embedded.ensure_server(str(cfg["MAIL_STORE_DIR"]))


def deliver(msg: EmailMessage) -> None:
    """One SMTP session for one message; raises smtplib/OSError on failure."""
    cfg: dict[str, Any] = current_app.config
    host, port = server_address()
    with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT) as smtp:
        if cfg.get("MAIL_SERVER") and cfg.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if cfg.get("MAIL_SERVER") and cfg.get("MAIL_USERNAME"):
            smtp.login(str(cfg["MAIL_USERNAME"]), str(cfg.get("MAIL_PASSWORD") or ""))
        smtp.send_message(msg)


def _permanent(exc: Exception) -> bool:
    """5xx answers and refused recipients will not get better by retrying."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


def _claim(mail_id: int) -> bool:
    result = db.session.execute(
        update(MailMessage)
        .where(MailMessage.id == mail_id, MailMessage.status == MailStatus.QUEUED)
        .values(status=MailStatus.SENDING, claimed_at=utcnow(), attempts=MailMessage.attempts + 1)
    )
    db.session.commit()
    return bool(getattr(result, "rowcount", 0))


def _record_failure(row: MailMessage, exc: Exception) -> None:
    reason = f"{type(exc).__name__}: {exc}"[:500]
    row.error = reason
    if isinstance(exc, MailError) or _permanent(exc) or row.attempts >= MAX_ATTEMPTS:
        row.status = MailStatus.FAILED
        audit.record("mail_failed", "mail_message", row.id, {"kind": row.kind, "attempts": row.attempts})
        logger.error("mail %s (%s) failed after %s tries: %s", row.id, row.kind, row.attempts, type(exc).__name__)
        return
    row.status = MailStatus.QUEUED
    row.next_attempt_at = utcnow() + timedelta(seconds=BACKOFF[min(row.attempts, len(BACKOFF)) - 1])
    logger.warning(
        "mail %s (%s) try %s failed (%s); next try at %s",
        row.id,
        row.kind,
        row.attempts,
        type(exc).__name__,
        row.next_attempt_at,
    )


def send_one(mail_id: int) -> bool:
    """Send one claimed mail; returns whether it went out."""
    row = db.session.get(MailMessage, mail_id)
    if row is None:
        return False
    try:
        msg = build_message(
            sender=sender(), to=row.to_address, subject=row.subject, body=row.body, message_id=row.message_id
        )
        deliver(msg)
    except (MailError, smtplib.SMTPException, OSError) as exc:
        _record_failure(row, exc)
        db.session.commit()
        return False
    row.status = MailStatus.SENT
    row.sent_at = utcnow()
    row.error = None
    audit.record("mail_sent", "mail_message", row.id, {"kind": row.kind, "attempts": row.attempts})
    db.session.commit()
    return True


def release_stale() -> int:
    """Queue again the mails a killed worker left 'sending'."""
    result = db.session.execute(
        update(MailMessage)
        .where(MailMessage.status == MailStatus.SENDING, MailMessage.claimed_at < utcnow() - STALE_SENDING)
        .values(status=MailStatus.QUEUED, next_attempt_at=utcnow())
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def send_pending(limit: int = BATCH) -> tuple[int, int]:
    """Send every due mail (up to `limit`); returns (sent, tried)."""
    release_stale()
    ids = db.session.scalars(
        select(MailMessage.id)
        .where(MailMessage.status == MailStatus.QUEUED, MailMessage.next_attempt_at <= utcnow())
        .order_by(MailMessage.next_attempt_at, MailMessage.id)
        .limit(limit)
    ).all()
    sent = tried = 0
    for mail_id in ids:
        if not _claim(mail_id):
            continue
        tried += 1
        sent += send_one(mail_id)
    return sent, tried
