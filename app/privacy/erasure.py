"""Erasure: a contact's messages, conversations, raw events and exports go; a tombstone stays."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from app import db
from app.audit import service as audit
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.conversations.workspace_models import ConversationNote
from app.core import crypto
from app.core.models import utcnow
from app.media import services as media
from app.notifications.models import Notification
from app.privacy.accounts import anonymise_user
from app.privacy.exceptions import PrivacyError
from app.privacy.lifecycle import contact_of, remove_file, set_progress
from app.privacy.models import PrivacyRequest, RequestSource
from app.search import services as search
from app.webhooks.models import WebhookEvent

BATCH = 25000
# what a tombstone keeps of a contact: nothing that names or reaches the person
ERASED_FIELDS = ("psid", "first_name", "last_name", "profile_pic", "locale", "notes", "tags", "username")


def batched_delete(model: type[Any], id_query: Any, counter: list[int]) -> int:
    """Delete the rows the id query selects, in id ranges of BATCH (committing between).

    Ranges (not "LIMIT n" re-selects) keep it linear: each batch touches only its own rows.
    """
    total = 0
    bounds = db.session.execute(
        select(db.func.min(model.id), db.func.max(model.id)).where(model.id.in_(id_query))
    ).one()
    if bounds[0] is not None:
        low, high = bounds
        while low <= high:
            if model is Message:  # the blind index's tokens and the stored files go with their messages
                in_range = select(model.id).where(model.id.in_(id_query), model.id >= low, model.id < low + BATCH)
                search.do_unindex(db.session.connection(), in_range)
                media.purge_messages(db.session.connection(), in_range)
            result = db.session.execute(
                delete(model)
                .where(model.id.in_(id_query), model.id >= low, model.id < low + BATCH)
                .execution_options(synchronize_session=False)
            )
            total += result.rowcount or 0
            db.session.commit()
            low += BATCH
    counter.append(total)
    return total


def delete_conversation_extras(conv_ids: Any) -> int:
    """Private notes and notifications of the selected conversations (before the conversations
    themselves: SQLite does not cascade). Returns the notes removed."""
    notes = batched_delete(
        ConversationNote, select(ConversationNote.id).where(ConversationNote.conversation_id.in_(conv_ids)), []
    )
    batched_delete(Notification, select(Notification.id).where(Notification.conversation_id.in_(conv_ids)), [])
    return notes


def _remove_exports(contact_id: int) -> int:
    """Every export of the contact goes, and the rectification values kept on its requests."""
    files = 0
    for other in db.session.scalars(select(PrivacyRequest).where(PrivacyRequest.contact_id == contact_id)):
        if remove_file(other.export_path):
            files += 1
        other.export_path = None
        other.export_expires_at = None
        other.details = None  # rectification values are personal data
    return files


def _tombstone(contact_id: int) -> None:
    """Keep the row (ids stay valid for the audit log) with every personal field emptied."""
    contact = db.session.get(Contact, contact_id)
    for name in ERASED_FIELDS:
        setattr(contact, name, None)
    contact.restricted = True
    contact.erased_at = utcnow()


def erase_contact(contact: Contact, req: PrivacyRequest | None = None) -> dict[str, int]:
    """Delete messages, conversations, events, exports and profile; keep a masked tombstone."""
    if contact.legal_hold:
        raise PrivacyError("the contact is under legal hold: erasure is blocked until the hold is lifted")
    contact_id = contact.id
    if contact.psid and not contact.psid_hash:
        contact.psid_hash = crypto.keyed_hash(contact.psid)
    psid_hash = contact.psid_hash
    db.session.commit()
    conv_ids = select(Conversation.id).where(Conversation.contact_id == contact_id)
    counts: list[int] = []
    batched_delete(Message, select(Message.id).where(Message.conversation_id.in_(conv_ids)), counts)
    delete_conversation_extras(conv_ids)
    if req is not None:
        set_progress(req, 70)
    batched_delete(Conversation, select(Conversation.id).where(Conversation.contact_id == contact_id), counts)
    if psid_hash:
        batched_delete(
            WebhookEvent,
            select(WebhookEvent.id).where(WebhookEvent.psid_hashes.like(f"%|{psid_hash}|%")),
            counts,
        )
    else:
        counts.append(0)
    files = _remove_exports(contact_id)
    _tombstone(contact_id)
    summary = {"messages": counts[0], "conversations": counts[1], "webhook_events": counts[2], "exports": files}
    audit.record("erasure_completed", "privacy_request" if req else "contact", req.id if req else contact_id, summary)
    db.session.commit()
    return summary


def handle_erasure(req: PrivacyRequest) -> str:
    """Processing of an erasure request: a staff account is anonymised, a contact erased."""
    if req.source == RequestSource.ACCOUNT:
        if req.subject_user_id is None:
            raise PrivacyError("the account no longer exists")
        anonymise_user(req.subject_user_id)
        return "account deactivated and anonymised"
    if req.contact_id is None:
        return "no matching data"
    summary = erase_contact(contact_of(req), req)
    return (
        f"erased {summary['messages']} messages, {summary['conversations']} conversations, "
        f"{summary['webhook_events']} webhook events, {summary['exports']} export files"
    )
