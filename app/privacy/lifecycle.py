"""What every step of a request shares: loading it, audited status changes, progress, files.

Audit rows only ever carry ids, statuses, counts and field names (never personal values).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

from sqlalchemy import update

from app import db
from app.audit import service as audit
from app.contacts.models import Contact
from app.privacy.exceptions import PrivacyError
from app.privacy.models import PrivacyRequest, RequestStatus

logger = logging.getLogger(__name__)


def get_request(req_or_id: PrivacyRequest | int) -> PrivacyRequest:
    """Callers hold either the row or its id; both end up with the row or a refusal."""
    if isinstance(req_or_id, PrivacyRequest):
        return req_or_id
    req: PrivacyRequest | None = db.session.get(PrivacyRequest, int(req_or_id))
    if req is None:
        raise PrivacyError("no such privacy request")
    return req


def transition(req: PrivacyRequest, new: RequestStatus, action: str, extra: dict[str, Any] | None = None) -> None:
    """Every status change goes through here, so each one is audited and logged the same way."""
    old = req.status
    req.status = new
    db.session.flush()
    audit.record(action, "privacy_request", req.id, {"status": [old, new], **(extra or {})})
    logger.info("privacy request %s: %s -> %s", req.id, old, new)


def set_progress(req: PrivacyRequest, value: int) -> None:
    """Progress on its own connection, so a streaming read in the session stays open."""
    if db.engine.dialect.name == "sqlite":
        return  # one writer at a time: the final 100 is enough there
    with db.engine.begin() as conn:
        conn.execute(update(PrivacyRequest).where(PrivacyRequest.id == req.id).values(progress=value))


def contact_of(req: PrivacyRequest) -> Contact:
    """The contact a handler works on; a request without one is refused, not crashed on."""
    contact = req.contact
    if contact is None:
        raise PrivacyError("the request has no contact")
    return contact


def iso(value: datetime | None) -> str | None:
    """UTC timestamps as the exports and the public status page show them."""
    return value.isoformat() + "Z" if value else None


def remove_file(path: str | None) -> bool:
    """Delete an export file that may already be gone; True if this call removed it."""
    if not path:
        return False
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False
