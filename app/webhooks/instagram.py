"""Instagram Direct: applying `object: instagram` items (Meta's Instagram Messaging webhooks).

The same batch, lookups and erasure filter as Messenger; this module only adds what differs:
entries name the Page's linked Instagram account (`page.ig_account_id`), contacts are keyed by
IGSID, an echo or a read never creates a contact, and messages carry story mentions, story
replies, reels, shares, unsends (`is_deleted`) and seen receipts by mid. Everything else is the
Messenger handler of the same kind (`apply.HANDLERS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.channels import Channel
from app.pages.models import Page
from app.webhooks import apply, edits
from app.webhooks.payload import clean_str, ms
from app.webhooks.work import Batch, Work

IG_KEY_PREFIX = "ig:"
_REFERRAL_KEYS = ("ref", "source", "type", "ad_id")


def page_key(channel: str | None, entry_id: str) -> str:
    """The key of an entry's page in the batch's page map (Instagram ids are prefixed)."""
    return IG_KEY_PREFIX + entry_id if channel == Channel.INSTAGRAM else entry_id


def linked_pages(ig_ids: Iterable[str]) -> dict[str, Page]:
    """Pages whose linked Instagram account is one of these ids, keyed by `page_key`."""
    ids = sorted(set(ig_ids))
    if not ids:
        return {}
    pages = db.session.scalars(select(Page).where(Page.ig_account_id.in_(ids)))
    return {IG_KEY_PREFIX + str(p.ig_account_id): p for p in pages}


def _referral(body: Any) -> dict[str, Any] | None:
    """The non-personal fields of a referral (ig.me link or ad)."""
    if not isinstance(body, dict):
        return None
    ref = {k: clean_str(body.get(k), 255) for k in _REFERRAL_KEYS if body.get(k) is not None}
    return ref or None


def _story(message: dict[str, Any]) -> dict[str, Any] | None:
    """A story reply's story (`reply_to.story`: its CDN link and id)."""
    reply_to = message.get("reply_to")
    story = reply_to.get("story") if isinstance(reply_to, dict) else None
    if not isinstance(story, dict):
        return None
    return {"url": clean_str(story.get("url"), 2048), "id": clean_str(story.get("id"), 64)}


def _kind(text: str | None, atts: list[dict[str, Any]], story: dict[str, Any] | None, unsupported: bool) -> str:
    """What the message is: a story mention or reply, an attachment, text, or unsupported."""
    if any(a.get("type") == "story_mention" for a in atts):
        return "story_mention"
    if story is not None:
        return "story_reply"
    if unsupported and text is None and not atts:
        return "unsupported"
    return "attachment" if atts and text is None else "text"


def _handle_message(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """An inbound Instagram message; a story mention or reply opens the window like any message."""
    message = w.item["message"]
    mid = clean_str(message.get("mid"), 255)
    if message.get("is_deleted"):
        return edits.unsend(batch, conv, mid, w)
    text = clean_str(message.get("text"))
    atts = apply._attachments(message)
    story = _story(message)
    unsupported = bool(message.get("is_unsupported"))
    if text is None and not atts and story is None and not unsupported:
        return False
    meta: dict[str, Any] = {}
    if story is not None:
        meta["story"] = story
        if story.get("url"):
            atts.append({"type": "story", "url": story["url"]})
    reply_to = message.get("reply_to")
    if isinstance(reply_to, dict) and reply_to.get("mid"):
        meta["reply_to_mid"] = clean_str(reply_to["mid"], 255)
    qr = message.get("quick_reply")
    if isinstance(qr, dict) and qr.get("payload") is not None:
        meta["quick_reply_payload"] = clean_str(qr.get("payload"), 1000)
    if (referral := _referral(message.get("referral"))) is not None:
        meta["referral"] = referral
    msg = apply._add_message(
        batch,
        conversation_id=conv.id,
        mid=mid,
        direction="in",
        text=text,
        attachments=atts or None,
        kind=_kind(text, atts, story, unsupported),
        status="received",
        created_at=w.ts,
        meta=meta or None,
    )
    if msg is not None:
        apply._touch_inbound(conv, contact, w.ts)
    return True


def _handle_seen(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """`messaging_seen`: Instagram names the last message seen (`read.mid`), not a watermark;
    our messages up to that one are read."""
    body = w.item.get("read")
    if not isinstance(body, dict):
        return False
    if ms(body.get("watermark")) is not None:
        return apply._handle_read(batch, conv, contact, w)
    seen = edits.find_message(conv, clean_str(body.get("mid"), 255))
    if seen is None:
        return False
    watermark = max(seen.sent_at or seen.created_at, seen.created_at)
    apply._bulk_status(
        conv,
        ("sending", "sent", "delivered"),
        apply._sent_before(watermark),
        {
            "status": "read",
            "read_at": func.coalesce(Message.read_at, w.ts),
            "delivered_at": func.coalesce(Message.delivered_at, w.ts),
        },
    )
    return True


HANDLERS: dict[str, apply.Handler] = {
    **apply.HANDLERS,
    "message": _handle_message,
    "read": _handle_seen,
}


def handle(batch: Batch, w: Work) -> bool:
    """Apply one Instagram item; False when its contact does not exist (an echo or read for
    someone who never wrote) or it carried nothing to apply."""
    contact = batch.contacts.get((w.page.id, w.psid))
    conv = batch.convs.get(contact.id) if contact is not None else None
    if contact is None or conv is None:
        return False
    return HANDLERS[w.kind](batch, conv, contact, w)
