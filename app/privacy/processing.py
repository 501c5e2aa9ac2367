"""Running an approved request (the `privacy` job): in_processing -> complete, or error."""

from __future__ import annotations

import logging
from collections.abc import Callable

from app import db
from app.audit import service as audit
from app.core.models import utcnow
from app.privacy import export_link
from app.privacy.erasure import handle_erasure
from app.privacy.exceptions import PrivacyError
from app.privacy.export import handle_access
from app.privacy.lifecycle import contact_of, transition
from app.privacy.models import PrivacyRequest, RequestStatus, RequestType
from app.privacy.notices import Notice, notify_requester
from app.privacy.requests import corrections_of, validate_details

logger = logging.getLogger(__name__)

RUNNABLE = (RequestStatus.APPROVED, RequestStatus.IN_PROCESSING, RequestStatus.ERROR)


def _handle_rectification(req: PrivacyRequest) -> str:
    """Apply the corrected fields (validated again: the rules may have changed since)."""
    contact = contact_of(req)
    details = validate_details(RequestType.RECTIFICATION, corrections_of(req))
    assert details is not None
    for key, value in details.items():
        setattr(contact, key, value)
    audit.record("contact_rectified", "contact", contact.id, {"fields": sorted(details)})
    return f"updated {', '.join(sorted(details))}"


def _handle_restriction(req: PrivacyRequest) -> str:
    """Freeze the contact: kept, but no longer processed."""
    contact = contact_of(req)
    contact.restricted = True
    audit.record("contact_restricted", "contact", contact.id, {"restricted": [False, True]})
    return "processing restricted"


def _handle_opt_out(req: PrivacyRequest) -> str:
    """No more marketing to the contact."""
    contact = contact_of(req)
    contact.marketing_opt_out = True
    audit.record("marketing_opt_out", "contact", contact.id, {"marketing_opt_out": [False, True]})
    return "opted out of marketing"


HANDLERS: dict[str, Callable[[PrivacyRequest], str]] = {
    RequestType.ACCESS: handle_access,
    RequestType.ERASURE: handle_erasure,
    RequestType.RECTIFICATION: _handle_rectification,
    RequestType.RESTRICTION: _handle_restriction,
    RequestType.MARKETING_OPT_OUT: _handle_opt_out,
}


def process(request_id: int) -> PrivacyRequest | None:
    """Run an approved request: in_processing -> complete, or error (with a reason)."""
    req: PrivacyRequest | None = db.session.get(PrivacyRequest, request_id)
    if req is None or req.status not in RUNNABLE:
        logger.info("privacy request %s is not runnable; skipped", request_id)
        return req
    if req.status != RequestStatus.IN_PROCESSING:
        req.error = None
        transition(req, RequestStatus.IN_PROCESSING, "privacy_request_processing")
    req.progress = 0
    db.session.commit()
    handler = HANDLERS[req.request_type]
    try:
        result = handler(req)
    except PrivacyError as exc:
        db.session.rollback()
        _fail(request_id, str(exc))
        failed: PrivacyRequest | None = db.session.get(PrivacyRequest, request_id)
        return failed
    except Exception as exc:
        db.session.rollback()
        _fail(request_id, f"unexpected {type(exc).__name__}; retried automatically, or use Retry")
        raise
    done: PrivacyRequest = db.session.get(PrivacyRequest, request_id)  # the row read above (still open)
    done.result = result
    done.progress = 100
    done.completed_at = utcnow()
    transition(done, RequestStatus.COMPLETE, "privacy_request_completed")
    token = _issue_link(done)
    db.session.commit()
    notify_requester(done, Notice.COMPLETED, export_link.link_url(token) if token else None)
    if done.request_type == RequestType.ERASURE and done.requester_email:
        done.requester_email = None  # told; nothing personal stays on the honoured request
        db.session.commit()
    return done


def _issue_link(req: PrivacyRequest) -> str | None:
    """The requester's download link of an access export (its token, for the notice); a link
    that cannot be made never undoes the completion (a Privacy Officer can send one later)."""
    if req.request_type != RequestType.ACCESS:
        return None
    try:
        return export_link.issue(req)
    except PrivacyError as exc:
        logger.warning("privacy request %s: no download link (%s)", req.id, exc)
        return None


def _fail(request_id: int, message: str) -> None:
    """Record the reason and move to error (once), so the officer sees it and can Retry."""
    req = db.session.get(PrivacyRequest, request_id)
    if req is None:
        return
    req.error = message[:2000]
    if req.status != RequestStatus.ERROR:
        transition(req, RequestStatus.ERROR, "privacy_request_failed")
    db.session.commit()
