"""Queue a mail: validate, store the row in the caller's transaction, audit without the body.

Callers (privacy notices, verification codes, digests, policy changes) call `queue_mail` and
commit; an after-commit hook then signals the drain job. If Redis is down the row waits and
the `send_mail` schedule entry picks it up: a mail the product promised is never lost.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from app import db
from app.audit import service as audit
from app.core.models import utcnow
from app.core.queues import enqueue_once
from app.mail.compose import check_address, check_body, check_subject
from app.mail.exceptions import MailError
from app.mail.models import MailMessage, MailStatus

logger = logging.getLogger(__name__)

DRAIN_JOB = "app.mail.tasks.send_pending"
DRAIN_FLAG = "omnicrm:mail:drain-queued"
DRAIN_FLAG_TTL = 120
_PENDING_KEY = "omnicrm_mail_pending"


def queue_mail(to: str, subject: str, body: str, *, kind: str) -> MailMessage:
    """Add a mail to the current transaction (the caller commits). Refuses bad input with
    MailError before anything is written."""
    row = MailMessage(
        kind=kind[:40],
        to_address=check_address(to),
        subject=check_subject(subject),
        body=check_body(body),
        status=MailStatus.QUEUED,
    )
    db.session.add(row)
    db.session.flush()
    audit.record("mail_queued", "mail_message", row.id, {"kind": row.kind})
    db.session.info[_PENDING_KEY] = True
    return row


def signal_drain() -> bool:
    """Make sure a drain job will run; False when one is already waiting. Never raises:
    with Redis down the schedule's sweep sends the mail later."""
    try:
        return enqueue_once(DRAIN_FLAG, DRAIN_FLAG_TTL, DRAIN_JOB, queue="default")
    except Exception:  # noqa: BLE001 - Redis down: the schedule's sweep sends it
        logger.warning("mail: could not queue the send job; the scheduled sweep will send it")
        return False


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_PENDING_KEY, False):
        signal_drain()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def sender() -> str:
    """The From address: `MAIL_FROM`, else the privacy contact address."""
    cfg: dict[str, Any] = current_app.config
    return str(cfg.get("MAIL_FROM") or cfg.get("PRIVACY_CONTACT_EMAIL") or "no-reply@localhost")


def requeue(mail_id: int) -> MailMessage:
    """An Admin sends a failed mail again (audited)."""
    row = db.session.get(MailMessage, mail_id)
    if row is None:
        raise MailError("no such mail", status=404)
    row.status = MailStatus.QUEUED
    row.attempts = 0
    row.error = None
    row.next_attempt_at = utcnow()
    audit.record("mail_requeued", "mail_message", row.id, {"kind": row.kind})
    db.session.info[_PENDING_KEY] = True
    return row
