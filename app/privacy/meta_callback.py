"""Meta's Data Deletion Request Callback: the signed_request, the erasure requests it opens,
and the public status behind the confirmation code (status and dates only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from app import db
from app.contacts.models import Contact
from app.core import crypto
from app.core.models import utcnow
from app.messenger.client import GraphError, client_from_config
from app.pages.models import Page
from app.privacy.exceptions import SignedRequestError
from app.privacy.instagram import with_instagram
from app.privacy.lifecycle import iso, transition
from app.privacy.models import OPEN_STATUSES, PrivacyRequest, RequestSource, RequestStatus, RequestType
from app.privacy.requests import create_request

logger = logging.getLogger(__name__)

_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
# what new_code() hands out: lowercase hex, "-N" for the numbered requests of one Meta callback
PUBLIC_CODE = re.compile(r"[0-9a-f]{16,64}(?:-[0-9]{1,6})?")
# the status a set of sibling requests shows: the first of these that any of them has
PUBLIC_ORDER = (
    RequestStatus.ERROR,
    RequestStatus.PENDING,
    RequestStatus.APPROVED,
    RequestStatus.IN_PROCESSING,
    RequestStatus.DENIED,
    RequestStatus.CANCELED,
    RequestStatus.COMPLETE,
)


def _b64url_decode(part: str) -> bytes:
    """Strict base64url: anything outside the alphabet is refused before decoding."""
    if not part or any(c not in _B64URL for c in part):
        raise SignedRequestError("signed_request is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, TypeError) as exc:
        raise SignedRequestError("signed_request is not base64url") from exc


def _signed_payload(part: str) -> dict[str, Any]:
    """The (already authenticated) payload part as a JSON object."""
    try:
        payload = json.loads(_b64url_decode(part).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignedRequestError("signed_request payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignedRequestError("signed_request payload is not a JSON object")
    return payload


def _check_signature(signed_request: Any, app_secret: str) -> str:
    """Shape and HMAC of the request; returns the payload part, still undecoded."""
    if not signed_request or not isinstance(signed_request, str):
        raise SignedRequestError("signed_request is missing")
    if len(signed_request) > 8192:
        raise SignedRequestError("signed_request is too long")
    parts: list[str] = signed_request.strip().split(".")
    if len(parts) != 2:
        raise SignedRequestError("signed_request must be two base64url parts joined by a dot")
    sig = _b64url_decode(parts[0])
    _b64url_decode(parts[1])  # the alphabet check, before the MAC is computed over it
    expected = hmac.new(app_secret.encode("utf-8"), parts[1].encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise SignedRequestError("signed_request signature does not match")
    return parts[1]


def _check_issued_at(issued_at: Any, max_age: int, now: float | None) -> None:
    """A replayed (stale) or future-dated request is refused; none at all is accepted."""
    if issued_at is None:
        return
    if isinstance(issued_at, bool) or not isinstance(issued_at, int):
        raise SignedRequestError("signed_request issued_at is not a timestamp")
    current = time.time() if now is None else now
    if issued_at < current - max_age:
        raise SignedRequestError("signed_request is stale")
    if issued_at > current + 300:
        raise SignedRequestError("signed_request is issued in the future")


def _user_id(value: Any) -> str:
    """The app-scoped user id: short and alphanumeric (Meta may send it as a number)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 64 or not value.isalnum():
        raise SignedRequestError("signed_request has no valid user_id")
    return value.strip()


def parse_signed_request(
    signed_request: str | None, app_secret: str, max_age: int = 86400, now: float | None = None
) -> dict[str, Any]:
    """Verify Meta's `base64url(sig).base64url(json)` (HMAC-SHA256 with the app secret).

    The signature is checked before the payload is decoded: nothing an anonymous caller sends
    is parsed as JSON unless it was signed with our secret. Every failure is a SignedRequestError.
    """
    payload = _signed_payload(_check_signature(signed_request, app_secret))
    algorithm = payload.get("algorithm")
    if not isinstance(algorithm, str) or algorithm.upper() != "HMAC-SHA256":
        raise SignedRequestError("signed_request algorithm must be HMAC-SHA256")
    _check_issued_at(payload.get("issued_at"), max_age, now)
    payload["user_id"] = _user_id(payload.get("user_id"))
    return payload


def resolve_psids(app_scoped_user_id: str) -> set[tuple[str, str]]:
    """(fb_page_id, psid) pairs via Graph ids_for_pages, asked with each page's token."""
    found: set[tuple[str, str]] = set()
    pages = db.session.scalars(select(Page).where(Page.access_token.is_not(None))).all()
    if not pages:
        return found
    with client_from_config(current_app.config) as client:
        for page in pages:
            try:
                items = client.ids_for_pages(app_scoped_user_id, page.access_token or "")
            except GraphError as exc:
                logger.warning("ids_for_pages failed for page %s: %s", page.fb_page_id, type(exc).__name__)
                continue
            for item in items:
                psid = item.get("id")
                page_id = (item.get("page") or {}).get("id")
                if isinstance(psid, str | int) and isinstance(page_id, str | int):
                    found.add((str(page_id), str(psid)))
    return found


def _contacts_of(app_scoped_user_id: str) -> list[Contact]:
    """The contacts behind the user's page-scoped ids, in a stable order."""
    contacts: list[Contact] = []
    for page_fb_id, psid in sorted(resolve_psids(app_scoped_user_id)):
        contact = db.session.scalar(
            select(Contact)
            .join(Page, Page.id == Contact.page_id)
            .where(Page.fb_page_id == page_fb_id, Contact.psid == psid)
        )
        if contact is not None:
            contacts.append(contact)
    return with_instagram(contacts, app_scoped_user_id)


def handle_deletion_callback(app_scoped_user_id: str) -> str:
    """Meta's data-deletion callback: erasure requests for the user's contacts; returns the code."""
    subject_ref = crypto.keyed_hash("asid:" + app_scoped_user_id)
    existing: PrivacyRequest | None = db.session.scalar(
        select(PrivacyRequest)
        .where(PrivacyRequest.subject_ref == subject_ref, PrivacyRequest.status.in_(OPEN_STATUSES))
        .order_by(PrivacyRequest.id)
    )
    if existing is not None:
        return existing.confirmation_code.split("-")[0]
    contacts = _contacts_of(app_scoped_user_id)
    code = secrets.token_hex(12)
    source = RequestSource.META_CALLBACK
    if not contacts:
        req = create_request(RequestType.ERASURE, None, source=source, code=code, commit=False)
        req.subject_ref = subject_ref
        req.result = "no matching data"
        req.progress = 100
        req.completed_at = utcnow()
        transition(req, RequestStatus.COMPLETE, "privacy_request_completed")
    for n, contact in enumerate(contacts):
        req = create_request(
            RequestType.ERASURE, contact, source=source, code=code if n == 0 else f"{code}-{n}", commit=False
        )
        req.subject_ref = subject_ref
    db.session.commit()
    return code


def requests_for_code(code: str) -> list[PrivacyRequest]:
    """The request(s) behind a public confirmation code: exact matches only.

    Anything outside the code's own alphabet is refused before the query (no LIKE wildcards:
    `_` and `%` once showed another subject's status); the base code also finds its `-N` siblings.
    """
    if not isinstance(code, str) or len(code) > 64 or not PUBLIC_CODE.fullmatch(code):
        return []
    base = code.split("-")[0]
    return list(
        db.session.scalars(
            select(PrivacyRequest)
            .where(
                or_(
                    PrivacyRequest.confirmation_code == base,
                    PrivacyRequest.confirmation_code.startswith(f"{base}-", autoescape=True),
                )
            )
            .order_by(PrivacyRequest.id)
        )
    )


def public_status(code: str) -> dict[str, Any] | None:
    """Status and dates only, no personal data."""
    reqs = requests_for_code(code)
    if not reqs:
        return None
    statuses = [r.status for r in reqs]
    overall = next((s for s in PUBLIC_ORDER if s in statuses), statuses[0])
    if overall == RequestStatus.ERROR:
        overall = RequestStatus.IN_PROCESSING  # a retryable error is still being worked on
    first = reqs[0]
    completed = [r.completed_at for r in reqs if r.completed_at]
    return {
        "confirmation_code": first.confirmation_code,
        "status": str(overall),
        "received_at": iso(first.received_at),
        "due_at": iso(first.due_at),
        "completed_at": iso(max(completed)) if completed and overall == RequestStatus.COMPLETE else None,
    }
