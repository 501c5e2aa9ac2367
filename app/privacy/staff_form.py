"""What the staff request form and the erasure confirmation need: contact search, a preview.

Kept out of the views so the JSON search endpoint, the plain-form fallback and the confirmation
page share one rule each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.privacy.models import PrivacyRequest

SEARCH_LIMIT = 20
MIN_QUERY = 2
# the choices offered for "how identity was checked"; free text is accepted too
IDENTITY_CHECKS = (
    "Asked in the Messenger conversation itself (the signed-in account wrote to us)",
    "E-mail from the address on file, confirmed by a reply in Messenger",
    "Confirmation code sent in Messenger and repeated back by e-mail",
    "Identity document checked (not kept)",
)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_contacts(query: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Contacts whose first/last name starts with a word of the query, or whose PSID matches.

    Erased contacts (tombstones) are never offered: nothing is left to request about them.
    """
    words = [w for w in query.strip().split() if w][:4]
    if len("".join(words)) < MIN_QUERY:
        return []
    stmt = select(Contact).where(Contact.erased_at.is_(None))
    for word in words:
        pattern = _escape_like(word.lower()) + "%"
        clauses = [
            func.lower(Contact.first_name).like(pattern, escape="\\"),
            func.lower(Contact.last_name).like(pattern, escape="\\"),
            Contact.psid == word,
        ]
        if word.isdigit() and len(word) >= 4:  # the last digits of a PSID, as shown in the grid
            clauses.append(Contact.psid.like("%" + _escape_like(word), escape="\\"))
        stmt = stmt.where(or_(*clauses))
    rows = db.session.scalars(stmt.order_by(Contact.last_inbound_at.desc(), Contact.id).limit(limit)).all()
    return [contact_choice(c) for c in rows]


def contact_choice(contact: Contact) -> dict[str, Any]:
    """One search hit: enough to tell two people of the same name apart, no more."""
    return {
        "id": contact.id,
        "name": contact.display_name,
        "psid_tail": (contact.psid or "")[-4:],
        "page": contact.page.name if contact.page else "",
    }


def erasure_preview(req: PrivacyRequest) -> dict[str, int]:
    """What an approved erasure will remove, counted now (shown before the officer confirms)."""
    if req.contact_id is None:
        return {"messages": 0, "conversations": 0, "exports": 0}
    conv_ids = select(Conversation.id).where(Conversation.contact_id == req.contact_id)
    messages = db.session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id.in_(conv_ids)))
    conversations = db.session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.contact_id == req.contact_id)
    )
    exports = db.session.scalar(
        select(func.count())
        .select_from(PrivacyRequest)
        .where(PrivacyRequest.contact_id == req.contact_id, PrivacyRequest.export_path.is_not(None))
    )
    return {"messages": messages or 0, "conversations": conversations or 0, "exports": exports or 0}
