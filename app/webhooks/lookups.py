"""Batched lookups before a batch is applied: contacts, conversations and known mids.

One query per kind of row for the whole batch (not one per item) is what lets a job keep up
with a busy page; rows missing are created here, surviving unique-key races with other workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.crypto import keyed_hash
from app.core.models import utcnow
from app.webhooks.work import Batch, Outcome, Work, candidate_mid


def _new_row(model: type, lookup: Select[Any], **values: Any) -> Any:
    """Insert a contact/conversation; on a unique-key race re-read the winner's row."""
    try:
        with db.session.begin_nested():
            obj = model(**values)
            db.session.add(obj)
            db.session.flush()
        return obj
    except IntegrityError:
        return db.session.scalars(lookup.execution_options(populate_existing=True)).one()


def _new_rows(model: type, rows: list[dict[str, Any]], lookup: Callable[[dict[str, Any]], Select[Any]]) -> list[Any]:
    """Insert many contacts/conversations in one flush; on a race fall back to one by one."""
    if not rows:
        return []
    try:
        with db.session.begin_nested():
            objs = [model(**values) for values in rows]
            db.session.add_all(objs)
            db.session.flush()
        return objs
    except IntegrityError:
        return [_new_row(model, lookup(values), **values) for values in rows]


def _load_contacts(work: list[Work], batch: Batch, outcome: Outcome) -> None:
    """Every item's contact, created when new (new ones are reported for a profile fetch)."""
    keys = sorted({(w.page.id, w.psid) for w in work})
    # an Instagram echo or read attaches to an existing contact only: it never creates one
    creating = {(w.page.id, w.psid): w.channel for w in work if w.creates_contact}
    psids = sorted({psid for _, psid in keys})
    for contact in db.session.scalars(
        select(Contact).where(Contact.psid.in_(psids), Contact.page_id.in_({k[0] for k in keys}))
    ):
        batch.contacts[(contact.page_id, contact.psid)] = contact
    now = utcnow()
    missing = [
        {
            "page_id": page_id,
            "psid": psid,
            "psid_hash": keyed_hash(psid),
            "first_seen_at": now,
            "channel": creating[(page_id, psid)],
        }
        for page_id, psid in keys
        if (page_id, psid) not in batch.contacts and (page_id, psid) in creating
    ]
    for contact in _new_rows(
        Contact, missing, lambda v: select(Contact).where(Contact.page_id == v["page_id"], Contact.psid == v["psid"])
    ):
        batch.contacts[(contact.page_id, contact.psid)] = contact
        outcome.new_contacts.append(contact.id)


def _load_conversations(batch: Batch) -> None:
    """Every contact's conversation, locked in id order (PostgreSQL), created when new."""
    contact_ids = sorted({c.id for c in batch.contacts.values()})
    stmt = select(Conversation).where(Conversation.contact_id.in_(contact_ids)).order_by(Conversation.id)
    if db.engine.dialect.name == "postgresql":
        # serialise work on a conversation across workers; id order means no deadlocks
        stmt = stmt.options(lazyload("*")).with_for_update(of=Conversation)
    for conv in db.session.scalars(stmt.execution_options(populate_existing=True)):
        batch.convs.setdefault(conv.contact_id, conv)
    missing = [
        {
            "page_id": page_id,
            "contact_id": contact.id,
            "status": "open",
            "unread_count": 0,
            "channel": contact.channel,
        }
        for (page_id, _psid), contact in sorted(batch.contacts.items())
        if contact.id not in batch.convs
    ]
    for conv in _new_rows(
        Conversation,
        missing,
        lambda v: select(Conversation).where(
            Conversation.page_id == v["page_id"], Conversation.contact_id == v["contact_id"]
        ),
    ):
        batch.convs[conv.contact_id] = conv
        batch.arrivals.add(conv.id)


def prepare(work: list[Work], batch: Batch, outcome: Outcome) -> None:
    """Contacts, conversations (locked, id order) and known mids for every item, in few queries."""
    _load_contacts(work, batch, outcome)
    _load_conversations(batch)
    mids = {m for m in (candidate_mid(w) for w in work) if m}
    if mids:
        batch.mids.update(db.session.scalars(select(Message.mid).where(Message.mid.in_(mids))))
