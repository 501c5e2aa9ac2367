"""Matching a web request to a contact: the Privacy Officer says who asked and how they know.

A request from the public form (`source` web) proves only an e-mail address. Before it can be
approved a Privacy Officer ties it to a contact and records how identity was checked; from then
on it counts as verified. The REST action and the button on the request page both call
`match_request`; the four-eyes rules of approval are unchanged (the matcher may approve, since
a web request has no staff requester).
"""

from __future__ import annotations

from typing import Any

from app import db
from app.audit import service as audit
from app.contacts.models import Contact
from app.privacy.exceptions import PrivacyError
from app.privacy.lifecycle import get_request
from app.privacy.models import PrivacyRequest, RequestSource, RequestStatus
from app.privacy.requests import clean_identity_check


class MatchError(PrivacyError):
    """A refused match (422, or 400 for a malformed value: DomainError's `status`)."""


def _contact(contact_id: Any) -> Contact:
    if not isinstance(contact_id, int) or isinstance(contact_id, bool) or not 0 < contact_id < 2**31:
        raise MatchError("contact_id must be a positive integer", status=400)
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise MatchError(f"no contact with id {contact_id}")
    if contact.erased_at is not None:
        raise MatchError("this contact was erased; match the request to a contact that still exists")
    return contact


def check_match(req: PrivacyRequest, contact_id: Any, identity_check: Any) -> tuple[Contact, str]:
    """The contact and the cleaned identity check, or a MatchError saying why not."""
    if req.source != RequestSource.WEB:
        raise MatchError(
            f"only requests from the public form are matched (this one came from {req.source} "
            "and already names its contact)"
        )
    if req.status != RequestStatus.PENDING:
        raise MatchError(f"only pending requests can be matched (this one is {req.status})")
    contact = _contact(contact_id)
    try:
        check = clean_identity_check(identity_check)
    except PrivacyError as exc:
        raise MatchError(str(exc), status=400) from None
    if check is None:
        raise MatchError("say how the requester's identity was verified (identity_check)", status=400)
    return contact, check


def match_request(req_or_id: PrivacyRequest | int, contact_id: Any, identity_check: Any) -> PrivacyRequest:
    """Tie a pending web request to a contact; audited `privacy_request_matched` (ids only)."""
    req = get_request(req_or_id)
    contact, check = check_match(req, contact_id, identity_check)
    old_contact, old_verified = req.contact_id, req.identity_verified
    req.contact_id = contact.id
    req.identity_check = check
    req.identity_verified = True
    db.session.flush()
    audit.record(
        "privacy_request_matched",
        "privacy_request",
        req.id,
        {"contact_id": [old_contact, contact.id], "identity_verified": [old_verified, True]},
    )
    db.session.commit()
    return req
