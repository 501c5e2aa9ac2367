"""Privacy requests from inside Messenger / Instagram: the page menu's "Privacy" postbacks.

The signed webhook already proves who is asking (the PSID/IGSID belongs to the sender), so a
postback `PRIVACY_ACCESS`, `PRIVACY_ERASURE`, `PRIVACY_RECTIFICATION` or `PRIVACY_OPT_OUT`
opens a request (`source` messenger) in the same transaction as the event that carried it:
nothing acknowledged is lost. Repeated taps while one of that kind is open make no second
request. After the commit the contact gets the "received" notice, inside the window opened by
the tap itself.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app import db
from app.contacts.models import Contact
from app.core.queues import enqueue
from app.privacy.models import PrivacyRequest, RequestSource, RequestType
from app.privacy.requests import create_request, find_open

logger = logging.getLogger(__name__)

PAYLOAD_TYPES = {
    "PRIVACY_ACCESS": RequestType.ACCESS,
    "PRIVACY_ERASURE": RequestType.ERASURE,
    "PRIVACY_RECTIFICATION": RequestType.RECTIFICATION,
    "PRIVACY_OPT_OUT": RequestType.MARKETING_OPT_OUT,
}
NOTICE_JOB = "app.privacy.tasks.send_received_notice"
_PENDING = "omnicrm_privacy_notices"


def is_privacy_payload(payload: Any) -> bool:
    return isinstance(payload, str) and payload in PAYLOAD_TYPES


def open_from_messenger(contact: Contact, payload: str) -> PrivacyRequest | None:
    """Open (or find the open) request for this tap, in the caller's transaction."""
    request_type = PAYLOAD_TYPES.get(payload)
    if request_type is None or contact.erased_at is not None:
        return None
    db.session.flush()
    existing = find_open(contact.id, request_type)
    if existing is not None:
        logger.info("privacy tap %s by contact %s: request %s is already open", payload, contact.id, existing.id)
        return existing
    req = create_request(request_type, contact, source=RequestSource.MESSENGER, commit=False)
    db.session.info.setdefault(_PENDING, []).append(req.id)
    return req


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for request_id in session.info.pop(_PENDING, []):
        try:
            enqueue(NOTICE_JOB, request_id, queue="privacy")
        except Exception:  # noqa: BLE001 - Redis down: the request exists; only the auto-reply is lost
            logger.warning("privacy request %s: could not queue the 'received' reply", request_id)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
