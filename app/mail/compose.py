"""Checks and message building: the one place where an address or a header is accepted.

A name or subject typed by a stranger (the public request form) must never add a header line,
so line breaks and control characters are refused here, before anything is stored.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate

from app.mail.exceptions import MailError

MAX_ADDRESS = 254
MAX_SUBJECT = 200
MAX_BODY = 100_000
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_address(value: str) -> str:
    """A plain `local@domain` address (no display name, no list, no line break) or MailError."""
    address = (value or "").strip()
    if not address:
        raise MailError("an e-mail address is required")
    if len(address) > MAX_ADDRESS or not _ADDRESS.match(address):
        raise MailError("this is not a valid e-mail address (expected name@example.com)")
    return address


def check_subject(value: str) -> str:
    subject = (value or "").strip()
    if not subject:
        raise MailError("a mail needs a subject")
    if _CONTROL.search(subject):
        raise MailError("the subject must be one line without control characters")
    if len(subject) > MAX_SUBJECT:
        raise MailError(f"the subject is longer than {MAX_SUBJECT} characters")
    return subject


def check_body(value: str) -> str:
    if not value or not value.strip():
        raise MailError("a mail needs a text")
    if len(value) > MAX_BODY:
        raise MailError(f"the text is longer than {MAX_BODY:,} characters")
    return value


def build_message(*, sender: str, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    """A plain-text UTF-8 message; the checks above ran when the mail was queued and run again."""
    msg = EmailMessage()
    msg["From"] = check_address(sender)
    msg["To"] = check_address(to)
    msg["Subject"] = check_subject(subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(check_body(body))
    return msg
