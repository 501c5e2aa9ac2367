"""The database side of the backfill: a batch of recovered threads stored in one transaction.

A batch is a few dozen conversations read from the Conversations API. Their contacts,
conversations and already-known `mid`s are looked up with one query each, the new messages go
in with one multi-row INSERT, and the batch commits once: 10,000 messages take seconds, and the
session forgets the batch afterwards so memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Direction, Message, MessageStatus
from app.core.crypto import keyed_hash
from app.pages.models import Page

MID_CHUNK = 500


@dataclass
class ConversationCount:
    """What one conversation got: `inserted` new messages, `known` already present."""

    conversation_id: int | None
    psid_tail: str
    inserted: int = 0
    known: int = 0


@dataclass
class Thread:
    """One conversation as read from Meta: the person's id and its messages, oldest first."""

    platform: str
    psid: str
    rows: list[dict[str, Any]]
    count: ConversationCount = field(init=False)

    def __post_init__(self) -> None:
        self.count = ConversationCount(None, "…" + self.psid[-4:])


def _erased(psids: list[str]) -> dict[str, datetime]:
    """psid -> the latest erasure of that person (their older messages are never recovered)."""
    hashes = {keyed_hash(p): p for p in psids}
    rows = db.session.execute(
        select(Contact.psid_hash, func.max(Contact.erased_at))
        .where(Contact.psid_hash.in_(list(hashes)), Contact.erased_at.is_not(None))
        .group_by(Contact.psid_hash)
    ).all()
    return {hashes[h]: at for h, at in rows if h in hashes}


def _conversations(page: Page, threads: list[Thread]) -> dict[str, Conversation]:
    """psid -> its conversation on this page, created (with the contact) when missing."""
    psids = sorted({t.psid for t in threads})
    contacts = {
        c.psid: c
        for c in db.session.scalars(
            select(Contact).where(Contact.page_id == page.id, Contact.psid.in_(psids), Contact.erased_at.is_(None))
        )
    }
    convs = {
        c.contact_id: c
        for c in db.session.scalars(
            select(Conversation).where(
                Conversation.page_id == page.id, Conversation.contact_id.in_([c.id for c in contacts.values()] or [0])
            )
        )
    }
    platforms = {t.psid: t.platform for t in threads}
    out: dict[str, Conversation] = {}
    for psid in psids:
        contact = contacts.get(psid)
        if contact is None:
            contact = Contact(page_id=page.id, psid=psid)
            if hasattr(Contact, "channel"):  # the Instagram work adds the column
                contact.channel = platforms[psid]
            db.session.add(contact)
        conv = convs.get(contact.id) if contact.id is not None else None
        if conv is None:
            conv = Conversation(page_id=page.id, contact=contact, status="open")
            if hasattr(Conversation, "channel"):
                conv.channel = platforms[psid]
            db.session.add(conv)
        out[psid] = conv
    db.session.flush()
    return out


def _known_mids(mids: list[str]) -> set[str]:
    known: set[str] = set()
    for i in range(0, len(mids), MID_CHUNK):
        known.update(db.session.scalars(select(Message.mid).where(Message.mid.in_(mids[i : i + MID_CHUNK]))))
    return known


def _row(conv: Conversation, m: dict[str, Any], own: set[str], attachments: list[dict[str, str]]) -> dict[str, Any]:
    sender = m.get("from")
    outbound = isinstance(sender, dict) and str(sender.get("id") or "") in own
    created: datetime = m["_created"]
    text = m.get("message") if isinstance(m.get("message"), str) and m.get("message") else None
    return {
        "conversation_id": conv.id,
        "mid": str(m["id"])[:255],
        "direction": Direction.OUT.value if outbound else Direction.IN.value,
        "author_id": None,
        "text": text[:2000] if text else None,
        "attachments": attachments or None,
        "kind": "attachment" if attachments and not text else "text",
        "status": MessageStatus.SENT.value if outbound else MessageStatus.RECEIVED.value,
        "created_at": created,
        "sent_at": created if outbound else None,
        "attempts": 0,
        "recovered": True,
    }


def _touch(conv: Conversation, rows: list[dict[str, Any]]) -> None:
    """Move the conversation's clocks as the webhook would have; inbound ones count unread."""
    inbound = [r["created_at"] for r in rows if r["direction"] == Direction.IN.value]
    last = max(r["created_at"] for r in rows)
    conv.last_message_at = max(conv.last_message_at or last, last)
    if inbound:
        newest = max(inbound)
        conv.last_inbound_at = max(conv.last_inbound_at or newest, newest)
        conv.contact.last_inbound_at = max(conv.contact.last_inbound_at or newest, newest)
        conv.unread_count = (conv.unread_count or 0) + len(inbound)
        if conv.status == "closed":
            conv.status = "open"


def _store(page: Page, threads: list[Thread], own: set[str], attachments: Any) -> None:
    erased = _erased([t.psid for t in threads])
    for t in threads:
        if t.psid in erased:
            t.rows = [m for m in t.rows if m["_created"] > erased[t.psid]]
    threads = [t for t in threads if t.rows]
    if not threads:
        return
    with db.session.no_autoflush:
        convs = _conversations(page, threads)
        known = _known_mids([str(m["id"])[:255] for t in threads for m in t.rows])
    values: list[dict[str, Any]] = []
    for t in threads:
        conv = convs[t.psid]
        t.count.conversation_id = conv.id
        fresh = []
        for m in t.rows:
            mid = str(m["id"])[:255]
            if mid in known:
                t.count.known += 1
                continue
            known.add(mid)
            fresh.append(_row(conv, m, own, attachments(m.get("attachments"))))
        t.count.inserted = len(fresh)
        if fresh:
            _touch(conv, fresh)
            values.extend(fresh)
    if values:  # Core executemany: one statement for the batch (the ORM would go row by row)
        db.session.connection().execute(insert(Message.__table__), values)


def store_batch(page: Page, threads: list[Thread], own: set[str], attachments: Any) -> list[ConversationCount]:
    """Store a batch in one transaction (retried once when a webhook stored one of its mids
    meanwhile); returns each thread's counts."""
    for attempt in (1, 2):
        try:
            _store(page, threads, own, attachments)
            db.session.commit()
            break
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
            for t in threads:
                t.count = ConversationCount(None, t.count.psid_tail)
    counts = [t.count for t in threads]
    for obj in list(db.session):  # memory stays flat over thousands of threads
        if isinstance(obj, (Contact, Conversation, Message)):
            db.session.expunge(obj)
    return counts
