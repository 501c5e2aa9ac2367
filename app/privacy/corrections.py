"""The corrections of a rectification request: which fields change, and to what.

A rectification opened with a tap in Messenger, from the conversation view or through the
public form names no fields (the form carries only the requester's own words). A Privacy Officer
records the corrections here, after asking the requester, before the request can be approved.
The REST action and the form on the request page both call `set_corrections`; the values are
personal data, so the audit log records which fields were set, never their values.
"""

from __future__ import annotations

from typing import Any

from app import db
from app.audit import service as audit
from app.privacy.exceptions import PrivacyError
from app.privacy.lifecycle import get_request
from app.privacy.models import PrivacyRequest, RequestStatus, RequestType
from app.privacy.requests import RECTIFIABLE_FIELDS, corrections_of, validate_details


class CorrectionsError(PrivacyError):
    """Corrections refused (422, or 400 for a malformed body: DomainError's `status`)."""


def check_corrections(req: PrivacyRequest, fields: Any) -> dict[str, Any]:
    """The cleaned corrections, or a CorrectionsError saying why not."""
    if req.request_type != RequestType.RECTIFICATION:
        raise CorrectionsError(f"only rectification requests carry corrections (this one is {req.request_type})")
    if req.status != RequestStatus.PENDING:
        raise CorrectionsError(
            f"corrections can be changed only while the request is pending (this one is {req.status})"
        )
    if not isinstance(fields, dict):
        raise CorrectionsError(f"fields must be an object of {', '.join(RECTIFIABLE_FIELDS)}", status=400)
    clean = validate_details(RequestType.RECTIFICATION, fields)
    assert clean is not None  # validate_details refuses an empty rectification
    return clean


def set_corrections(req_or_id: PrivacyRequest | int, fields: Any) -> PrivacyRequest:
    """Replace a pending rectification's corrections (the requester's own words are kept);
    audited `privacy_request_corrections_set` with the field names only."""
    req = get_request(req_or_id)
    clean = check_corrections(req, fields)
    before = sorted(corrections_of(req))
    details = req.details if isinstance(req.details, dict) else {}
    kept = {k: v for k, v in details.items() if k not in RECTIFIABLE_FIELDS}
    req.details = {**kept, **clean}
    db.session.flush()
    audit.record("privacy_request_corrections_set", "privacy_request", req.id, {"fields": [before, sorted(clean)]})
    db.session.commit()
    return req
