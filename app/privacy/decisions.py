"""Decisions on privacy requests: approve / deny under four eyes, cancel, retry, lift.

An approval queues the job by its dotted path, so this layer never imports the jobs.
"""

from __future__ import annotations

from rq import Retry

from app import db
from app.audit import service as audit
from app.core.models import utcnow
from app.core.queues import enqueue
from app.privacy.exceptions import PrivacyError
from app.privacy.lifecycle import get_request, transition
from app.privacy.models import PrivacyRequest, RequestSource, RequestStatus, RequestType
from app.privacy.notices import Notice, notify_requester
from app.privacy.requests import corrections_of

PROCESS_JOB = "app.privacy.tasks.process_request"
CANCELABLE = (RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.ERROR)


def _four_eyes(req: PrivacyRequest, user_id: int | None) -> None:
    """Nobody decides on a request they created or caused, or on their own account's deletion."""
    if user_id is None:
        raise PrivacyError("a decision needs a signed-in privacy officer")
    if req.requested_by_id is not None and req.requested_by_id == user_id:
        raise PrivacyError("four eyes: you cannot decide on a request you created or caused yourself")
    if req.subject_user_id is not None and req.subject_user_id == user_id:
        raise PrivacyError("four eyes: you cannot decide on the deletion of your own account")


def approve(req_or_id: PrivacyRequest | int, user_id: int | None) -> PrivacyRequest:
    """pending -> approved (another person than the requester), then the job is queued."""
    req = get_request(req_or_id)
    if req.status != RequestStatus.PENDING:
        raise PrivacyError(f"only pending requests can be approved (this one is {req.status})")
    _four_eyes(req, user_id)
    if req.source == RequestSource.WEB and req.contact_id is None:
        raise PrivacyError("match this web request to a contact first (and record how identity was checked)")
    if req.request_type == RequestType.RECTIFICATION and not corrections_of(req):
        raise PrivacyError("record the corrections first: which fields change, and to what")
    if req.request_type == RequestType.ERASURE and req.contact is not None and req.contact.legal_hold:
        raise PrivacyError("the contact is under legal hold: erasure is blocked until the hold is lifted")
    req.approved_by_id = user_id
    req.decided_at = utcnow()
    transition(req, RequestStatus.APPROVED, "privacy_request_approved")
    db.session.commit()
    enqueue_processing(req)
    return req


def deny(req_or_id: PrivacyRequest | int, user_id: int | None, reason: str | None) -> PrivacyRequest:
    """pending -> denied; a reason is required (it is shown to the requester)."""
    req = get_request(req_or_id)
    if req.status != RequestStatus.PENDING:
        raise PrivacyError(f"only pending requests can be denied (this one is {req.status})")
    _four_eyes(req, user_id)
    reason = (reason or "").strip()
    if not reason:
        raise PrivacyError("a denial needs a reason")
    if len(reason) > 2000:
        raise PrivacyError("the reason is longer than 2000 characters")
    req.reason = reason
    req.approved_by_id = user_id
    req.decided_at = utcnow()
    req.completed_at = req.decided_at
    transition(req, RequestStatus.DENIED, "privacy_request_denied")
    db.session.commit()
    notify_requester(req, Notice.DENIED)
    return req


def cancel(req_or_id: PrivacyRequest | int, reason: str | None = None) -> PrivacyRequest:
    """pending / approved / error -> canceled (Admin)."""
    req = get_request(req_or_id)
    if req.status not in CANCELABLE:
        raise PrivacyError(f"a request that is {req.status} cannot be canceled")
    req.reason = (reason or "").strip()[:2000] or req.reason
    req.completed_at = utcnow()
    transition(req, RequestStatus.CANCELED, "privacy_request_canceled")
    db.session.commit()
    return req


def retry(req_or_id: PrivacyRequest | int) -> PrivacyRequest:
    """error -> approved and queued again."""
    req = get_request(req_or_id)
    if req.status != RequestStatus.ERROR:
        raise PrivacyError("only failed requests can be retried")
    req.error = None
    req.progress = 0
    transition(req, RequestStatus.APPROVED, "privacy_request_retried")
    db.session.commit()
    enqueue_processing(req)
    return req


def lift_restriction(req_or_id: PrivacyRequest | int) -> PrivacyRequest:
    """Unfreeze the contact of a completed restriction request."""
    req = get_request(req_or_id)
    if req.request_type != RequestType.RESTRICTION or req.status != RequestStatus.COMPLETE:
        raise PrivacyError("only a completed restriction can be lifted")
    contact = req.contact
    if contact is None or not contact.restricted:
        raise PrivacyError("the contact is not restricted")
    contact.restricted = False
    req.result = "restriction lifted"
    audit.record("restriction_lifted", "contact", contact.id, {"restricted": [True, False]})
    db.session.commit()
    return req


def enqueue_processing(req: PrivacyRequest) -> None:
    """Queue the job on `privacy`, retried with backoff on unexpected failures."""
    enqueue(
        PROCESS_JOB,
        req.id,
        queue="privacy",
        retry=Retry(max=3, interval=[30, 120, 600]),
        job_timeout=3600,
        description=f"privacy request {req.id}",
    )
