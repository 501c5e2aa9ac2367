"""Opening privacy requests: validation, due date, confirmation code, the audit row.

Views, the REST API, Meta's callback and the contacts domain all open requests here, so the
rules hold everywhere.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app import db
from app.audit import service as audit
from app.contacts.models import Contact
from app.core.context import current_actor
from app.core.models import utcnow
from app.privacy.deadlines import check_jurisdiction, due_date
from app.privacy.exceptions import PrivacyError
from app.privacy.models import OPEN_STATUSES, Jurisdiction, PrivacyRequest, RequestSource, RequestStatus, RequestType
from app.privacy.notices import Notice, notify_requester

RECTIFIABLE_FIELDS = ("first_name", "last_name", "locale")
#: who hears "we received your request": not Meta's callback (Meta shows its own status page)
#: nor a staff account's own deletion
NOTIFIED_SOURCES = (RequestSource.STAFF, RequestSource.MESSENGER, RequestSource.WEB)


def new_code() -> str:
    """Hex only: '-' separates the numbered requests of one Meta callback."""
    return secrets.token_hex(12)


def acting_user_id() -> int | None:
    """Who is acting now (request, job or command), recorded as requester or decider."""
    return current_actor().id


def _check_origin(request_type: str, contact: Contact | None, source: str, subject_user_id: int | None) -> None:
    """Each source has its own shape: staff name a contact, an account deletion names a user."""
    if request_type not in tuple(RequestType):
        raise PrivacyError(f"unknown request type {request_type!r}")
    if source not in tuple(RequestSource):
        raise PrivacyError(f"unknown source {source!r}")
    if source == RequestSource.ACCOUNT:
        if request_type != RequestType.ERASURE or subject_user_id is None:
            raise PrivacyError("an account deletion is an erasure request for a staff account")
    elif contact is None and source == RequestSource.STAFF:
        raise PrivacyError("choose the contact this request is about")
    if contact is not None and contact.erased_at and request_type != RequestType.ERASURE:
        raise PrivacyError("this contact was erased; nothing is left to process")


def create_request(
    request_type: str,
    contact: Contact | None = None,
    *,
    source: str = RequestSource.STAFF,
    requested_by_id: int | None = None,
    details: dict[str, Any] | None = None,
    subject_user_id: int | None = None,
    received_at: datetime | None = None,
    code: str | None = None,
    commit: bool = True,
    jurisdiction: str | None = None,
    requester_email: str | None = None,
    web_intake: dict[str, str] | None = None,
    identity_check: str | None = None,
    corrections_later: bool = False,
) -> PrivacyRequest:
    """Open a pending request (validated); due one calendar month (GDPR) or 45 days (CCPA)
    later. The jurisdiction defaults to the contact's page's setting, else GDPR.

    `identity_check` says how staff checked who asked; given, the request counts as verified.
    `corrections_later`: a rectification opened without its fields (a tap, the conversation
    view's one click); the officer asks the contact for them.
    """
    _check_origin(request_type, contact, source, subject_user_id)
    # a web request carries what the requester wrote (their name, their words); the officer
    # turns it into corrections after matching it to a contact
    if source == RequestSource.WEB:
        details = web_intake
    elif source != RequestSource.MESSENGER and not corrections_later:  # a tap carries no corrections
        details = validate_details(request_type, details)
    identity_check = clean_identity_check(identity_check)
    if source == RequestSource.MESSENGER and identity_check is None:
        identity_check = "asked from inside Messenger / Instagram (the signed webhook proves the sender)"
    law = _jurisdiction_for(jurisdiction, contact)
    received = received_at or utcnow()
    req = PrivacyRequest(
        request_type=request_type,
        contact_id=contact.id if contact is not None else None,
        source=source,
        requested_by_id=requested_by_id,
        subject_user_id=subject_user_id,
        details=details,
        received_at=received,
        due_at=due_date(received, law),
        jurisdiction=law.value,
        requester_email=requester_email,
        confirmation_code=code or new_code(),
        status=RequestStatus.PENDING,
        progress=0,
        identity_check=identity_check,
        identity_verified=identity_check is not None,
    )
    db.session.add(req)
    db.session.flush()
    audit.record(
        "privacy_request_created",
        "privacy_request",
        req.id,
        {"status": [None, RequestStatus.PENDING], "request_type": request_type, "source": source, "jurisdiction": law},
    )
    if commit:
        db.session.commit()
        if source in NOTIFIED_SOURCES and source != RequestSource.MESSENGER:
            notify_requester(req, Notice.RECEIVED)
    return req


def _jurisdiction_for(value: str | None, contact: Contact | None) -> Jurisdiction:
    """The request's own jurisdiction, else its page's default, else GDPR."""
    if not value and contact is not None and contact.page is not None:
        value = contact.page.default_jurisdiction
    try:
        return check_jurisdiction(value)
    except ValueError as exc:
        raise PrivacyError(str(exc)) from None


def clean_identity_check(value: Any) -> str | None:
    """How identity was checked: free text (no documents, no personal data), at most 500 chars."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PrivacyError("identity_check must be text")
    cleaned = value.strip()
    if len(cleaned) > 500:
        raise PrivacyError("the identity check is longer than 500 characters")
    return cleaned or None


def _clean_field(key: str, value: Any) -> str:
    """One corrected field: text, trimmed, within the column's length."""
    if not isinstance(value, str):
        raise PrivacyError(f"{key} must be text")
    cleaned = value.strip()
    limit = 16 if key == "locale" else 255
    if len(cleaned) > limit:
        raise PrivacyError(f"{key} is longer than {limit} characters")
    return cleaned


def validate_details(request_type: str, details: dict[str, Any] | None) -> dict[str, Any] | None:
    """Rectification carries allowed field changes only; other types carry none."""
    if request_type != RequestType.RECTIFICATION:
        return None
    if not isinstance(details, dict):
        raise PrivacyError("a rectification needs the corrected fields")
    unknown = sorted(set(details) - set(RECTIFIABLE_FIELDS))
    if unknown:
        raise PrivacyError(f"fields that cannot be rectified: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if value is None:
            continue
        value = _clean_field(key, value)
        if value:
            clean[key] = value
    if not clean:
        raise PrivacyError("a rectification needs at least one corrected field")
    return clean


def corrections_of(req: PrivacyRequest) -> dict[str, Any]:
    """A rectification's corrected fields: the rectifiable keys of its details (a web request's
    details also hold the requester's own words, which are not corrections)."""
    details = req.details if isinstance(req.details, dict) else {}
    return {k: details[k] for k in RECTIFIABLE_FIELDS if details.get(k)}


def open_minor_erasure(contact: Contact, caused_by_id: int | None = None) -> PrivacyRequest | None:
    """A contact marked under 13 gets an erasure request (policy §9); one open request at most.

    `caused_by_id` (whoever marked the contact) is recorded as the requester, so four eyes
    keeps them from approving the erasure they caused.
    """
    if contact.id is None or contact.erased_at:
        return None
    existing: PrivacyRequest | None = db.session.scalar(
        select(PrivacyRequest).where(
            PrivacyRequest.contact_id == contact.id,
            PrivacyRequest.request_type == RequestType.ERASURE,
            PrivacyRequest.status.in_(OPEN_STATUSES),
        )
    )
    if existing is not None:
        return existing
    req = create_request(
        RequestType.ERASURE, contact, source=RequestSource.STAFF, requested_by_id=caused_by_id, commit=False
    )
    req.result = "opened automatically: contact marked under 13"
    db.session.commit()
    return req


#: the one-click choices of the conversation view (form value -> request type)
CONVERSATION_TYPES = {
    "access": RequestType.ACCESS,
    "erasure": RequestType.ERASURE,
    "rectification": RequestType.RECTIFICATION,
    "opt_out": RequestType.MARKETING_OPT_OUT,
}


class DuplicateRequestError(PrivacyError):
    """One of the same kind is already open for this contact (`existing` says which)."""

    def __init__(self, message: str, existing: PrivacyRequest) -> None:
        super().__init__(message)
        self.existing = existing


def find_open(contact_id: int, request_type: str) -> PrivacyRequest | None:
    """The open request of this kind for this contact, if any (at most one is wanted)."""
    found: PrivacyRequest | None = db.session.scalar(
        select(PrivacyRequest)
        .where(
            PrivacyRequest.contact_id == contact_id,
            PrivacyRequest.request_type == request_type,
            PrivacyRequest.status.in_(OPEN_STATUSES),
        )
        .order_by(PrivacyRequest.id)
        .limit(1)
    )
    return found


def open_requests_of(contact_id: int | None) -> list[PrivacyRequest]:
    """A contact's open requests, oldest first (the conversation view lists them)."""
    if contact_id is None:
        return []
    rows = db.session.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.contact_id == contact_id, PrivacyRequest.status.in_(OPEN_STATUSES))
        .order_by(PrivacyRequest.id)
    )
    return list(rows)


def open_for_contact(contact: Contact | None, choice: str, requested_by_id: int | None) -> PrivacyRequest:
    """The conversation view's one click: a staff request about the conversation's contact.

    A second one of the same kind while one is open is refused (the existing one is named);
    a correction's fields are asked for afterwards, as after a tap in Messenger.
    """
    request_type = CONVERSATION_TYPES.get(choice)
    if request_type is None:
        raise PrivacyError("choose access, erasure, rectification or opt-out")
    if contact is None:
        raise PrivacyError("this conversation's contact no longer exists")
    existing = find_open(contact.id, request_type)
    if existing is not None:
        raise DuplicateRequestError(
            f"privacy request #{existing.id} ({request_type.replace('_', ' ')}) is already open for this contact "
            f"(due {existing.due_at.strftime('%d %B %Y')}): no second one was created",
            existing,
        )
    return create_request(
        request_type, contact, source=RequestSource.STAFF, requested_by_id=requested_by_id, corrections_later=True
    )
