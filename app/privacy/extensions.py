"""Extending a request's deadline: once, before it passes, with a reason the requester reads.

GDPR Art. 12(3) allows two further months, CCPA 45 more days; both require telling the
requester why within the first period, so the notice goes out with the extension.
"""

from __future__ import annotations

from app import db
from app.audit import service as audit
from app.core.models import utcnow
from app.privacy.deadlines import extended_due_date
from app.privacy.exceptions import PrivacyError
from app.privacy.lifecycle import get_request
from app.privacy.models import OPEN_STATUSES, PrivacyRequest
from app.privacy.notices import Notice, notify_requester

MIN_REASON = 10
MAX_REASON = 1000


def check_extend(req: PrivacyRequest, reason: str | None) -> str:
    """The cleaned reason, or a PrivacyError saying why this request cannot be extended."""
    if req.status not in OPEN_STATUSES:
        raise PrivacyError(f"only open requests can be extended (this one is {req.status})")
    if req.extended_at is not None:
        raise PrivacyError("this request was already extended once; the law allows one extension")
    if req.due_at <= utcnow():
        raise PrivacyError("the deadline has passed: an extension must be decided before the due date")
    cleaned = " ".join((reason or "").split())
    if len(cleaned) < MIN_REASON:
        raise PrivacyError(f"give the requester a reason of at least {MIN_REASON} characters")
    if len(cleaned) > MAX_REASON:
        raise PrivacyError(f"the reason is longer than {MAX_REASON} characters")
    return cleaned


def do_extend(req_or_id: PrivacyRequest | int, reason: str | None) -> PrivacyRequest:
    """Move the due date once (audited `privacy_request_extended`) and tell the requester why."""
    req = get_request(req_or_id)
    cleaned = check_extend(req, reason)
    old_due = req.due_at
    req.original_due_at = old_due
    req.due_at = extended_due_date(old_due, req.jurisdiction)
    req.extended_at = utcnow()
    req.extension_reason = cleaned
    req.overdue_flagged_at = None
    audit.record(
        "privacy_request_extended",
        "privacy_request",
        req.id,
        {"due_at": [old_due, req.due_at], "jurisdiction": req.jurisdiction},
    )
    db.session.commit()
    notify_requester(req, Notice.EXTENDED)
    return req
