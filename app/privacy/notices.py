"""Telling the requester what happens to their request: received, extended, denied, completed.

By e-mail when an address is known (`requester_email`), and by a Messenger/Instagram message
when the contact asked there and the 24-hour window is open (never with a tag: these are not human replies).
Best effort and after the decision committed: a notice that cannot go out never undoes the
decision; it is logged (and the mail itself is retried by the mail queue).

The texts are Jinja templates, `privacy/notices/<event>.txt` (first line: the subject). An
operator edits them by placing a file of the same name under `instance/notice_templates/`
(see docs/mail.md); the company name and `PRIVACY_CONTACT_EMAIL` are filled in.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from flask import current_app
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from sqlalchemy import select

from app import db
from app.conversations import services as conversations
from app.conversations.models import Conversation
from app.core.exceptions import DomainError
from app.mail.exceptions import MailError
from app.mail.services import queue_mail
from app.privacy.models import PrivacyRequest, RequestSource

logger = logging.getLogger(__name__)


class Notice(StrEnum):
    RECEIVED = "received"
    EXTENDED = "extended"
    DENIED = "denied"
    COMPLETED = "completed"


TYPE_WORDS = {
    "access": "a copy of your data",
    "erasure": "erasure of your data",
    "rectification": "correction of your data",
    "restriction": "restriction of the processing of your data",
    "marketing_opt_out": "no more marketing messages",
}


def _environment() -> Environment:
    override = str(current_app.config["NOTICE_TEMPLATE_DIR"])
    loader = ChoiceLoader([FileSystemLoader(override), PackageLoader("app", "templates/privacy/notices")])
    # plain text mail and Messenger text: nothing is HTML, and nothing may turn into a header
    return Environment(loader=loader, autoescape=select_autoescape(enabled_extensions=()), keep_trailing_newline=False)


def render(event: Notice, req: PrivacyRequest, export_url: str | None = None) -> tuple[str, str]:
    """(subject, text) for this request and step; `export_url` is an access export's one-time
    download link (only the completed notice of an access request has one)."""
    cfg: dict[str, Any] = current_app.config
    text = (
        _environment()
        .get_template(f"{event.value}.txt")
        .render(
            req=req,
            what=TYPE_WORDS.get(req.request_type, req.request_type),
            company=cfg.get("COMPANY_NAME") or cfg.get("APP_NAME") or "Omni CRM",
            contact_email=cfg.get("PRIVACY_CONTACT_EMAIL") or "",
            status_url=f"{cfg.get('PUBLIC_BASE_URL', '')}/privacy/deletion/{req.confirmation_code}",
            due=req.due_at.strftime("%d %B %Y"),
            export_url=export_url,
            export_expires=req.export_expires_at.strftime("%d %B %Y, %H:%M UTC") if req.export_expires_at else "",
        )
    )
    subject, _, body = text.partition("\n")
    return " ".join(subject.split())[:200], body.strip() + "\n"


def _messenger(req: PrivacyRequest, body: str) -> bool:
    """Only to a contact who asked in Messenger/Instagram (a request staff opened — a minor's
    automatic erasure, say — never messages the contact), inside the window; returns whether
    a message was queued."""
    if req.source != RequestSource.MESSENGER or req.contact is None or req.contact.erased_at is not None:
        return False
    conv = db.session.scalar(select(Conversation).where(Conversation.contact_id == req.contact.id).limit(1))
    if conv is None or conversations.reply_window(conv).response_left is None:
        return False
    try:
        conversations.queue_reply(conv, body[: conversations.MAX_TEXT_LENGTH])
    except DomainError as exc:
        logger.info("privacy request %s: no Messenger notice (%s)", req.id, exc)
        db.session.rollback()
        return False
    return True


def notify_requester(req: PrivacyRequest, event: Notice, export_url: str | None = None) -> list[str]:
    """Send the notice by every channel we have; returns the channels used ("email", "messenger")."""
    subject, body = render(event, req, export_url)
    used = []
    if req.requester_email:
        try:
            queue_mail(req.requester_email, subject, body, kind=f"privacy_{event.value}")
            db.session.commit()
            used.append("email")
        except MailError as exc:
            db.session.rollback()
            logger.warning("privacy request %s: notice not mailed (%s)", req.id, exc)
    if _messenger(req, body):
        used.append("messenger")
    return used
