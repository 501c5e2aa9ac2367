"""Changes to a message already stored: edits (`message_edit`, Messenger and Instagram),
unsends (Instagram's `is_deleted`) and reactions (react / unreact). None adds a message of its
own to the thread; each finds its message by mid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.media import services as media
from app.webhooks.payload import clean_str
from app.webhooks.work import Batch, Work

UNSENT_KIND = "unsent"


def find_message(conv: Conversation, mid: str | None) -> Message | None:
    """The conversation's message with this mid (pending adds of the batch included)."""
    if not mid:
        return None
    for obj in db.session.new:
        if isinstance(obj, Message) and obj.mid == mid and obj.conversation_id == conv.id:
            return obj
    return db.session.scalar(select(Message).where(Message.mid == mid, Message.conversation_id == conv.id))


def _merged_meta(message: Message, **values: Any) -> dict[str, Any]:
    """The message's meta with these values set (a new dict, so the JSON column sees a change)."""
    meta = dict(message.meta) if isinstance(message.meta, dict) else {}
    meta.update(values)
    return meta


def handle_edit(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """The person edited a message: its text is replaced (the edit count is kept, not the old text)."""
    body = w.item.get("message_edit")
    if not isinstance(body, dict):
        return False
    message = find_message(conv, clean_str(body.get("mid"), 255))
    text = clean_str(body.get("text"))
    if message is None or message.direction != "in" or text is None or message.kind == UNSENT_KIND:
        return False
    num_edit = body.get("num_edit")
    message.text = text
    message.meta = _merged_meta(message, edited=num_edit if isinstance(num_edit, int) else True)
    return True


def unsend(batch: Batch, conv: Conversation, mid: str | None, w: Work) -> bool:
    """The person unsent a message: its text and attachments are removed from storage.

    When the original is not stored (yet), a placeholder takes its mid, so a late retry of
    the original is a duplicate and never brings the words back."""
    if not mid:
        return False
    message = find_message(conv, mid)
    if message is None:
        if mid in batch.mids:  # stored under another conversation: not this person's to unsend
            return False
        batch.mids.add(mid)
        db.session.add(
            Message(
                conversation_id=conv.id,
                mid=mid,
                direction="in",
                text=None,
                kind=UNSENT_KIND,
                status="received",
                created_at=w.ts,
                meta={"deleted": True},
            )
        )
        return True
    if message.direction != "in":
        return False
    media.forget_message(message)  # the stored files go now, not with a later retention run
    message.text = None
    message.attachments = None
    message.kind = UNSENT_KIND
    message.meta = {"deleted": True}
    return True


def apply_reaction(conv: Conversation, reaction: dict[str, Any], at: datetime) -> bool:
    """Set (react) or remove (unreact) the person's reaction on the message it names.

    The person has one reaction per message; an older event arriving late never overrides a
    newer one. The reaction row itself stays (deduplication and history); the thread shows the
    reaction on its message. False when that message is not stored."""
    message = find_message(conv, reaction.get("mid"))
    if message is None or message.kind == UNSENT_KIND:
        return False
    meta = dict(message.meta) if isinstance(message.meta, dict) else {}
    stamp = at.isoformat()
    if str(meta.get("reaction_at") or "") > stamp:
        return False
    if reaction.get("action") == "unreact":
        meta.pop("reaction", None)
    else:
        meta["reaction"] = {"emoji": reaction.get("emoji"), "reaction": reaction.get("reaction")}
    meta["reaction_at"] = stamp
    message.meta = meta
    return True
