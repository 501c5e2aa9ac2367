"""Applying one messaging item to its contact's conversation: one handler per event kind.

`HANDLERS` maps a kind to its handler (as `app.privacy` maps request types), so adding a kind
is one function and one line, and no if/elif chain grows. Every handler has the same
signature and returns False when the item carried nothing to apply.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, update

from app import db
from app.contacts.models import Contact
from app.conversations import csat
from app.conversations.models import OUR_METADATA_PREFIX, Conversation, Message
from app.core.models import utcnow
from app.privacy import self_service
from app.webhooks import edits
from app.webhooks.payload import clean_str, ms
from app.webhooks.work import Batch, Work, candidate_mid

Handler = Callable[[Batch, Conversation, Contact, Work], bool]


def _add_message(batch: Batch, **values: Any) -> Message | None:
    """Add one message; None when its mid is already stored (duplicate delivery)."""
    mid = values.get("mid")
    if mid:
        if mid in batch.mids:
            return None
        batch.mids.add(mid)
    msg = Message(**values)
    db.session.add(msg)
    return msg


def _template(payload: dict[str, Any]) -> dict[str, Any]:
    """A template's title and button titles (an echo of a structured message), nothing personal."""
    elements = payload.get("elements")
    first = elements[0] if isinstance(elements, list) and elements and isinstance(elements[0], dict) else {}
    buttons = payload.get("buttons") or first.get("buttons") or []
    out: dict[str, Any] = {
        "template_type": clean_str(payload.get("template_type"), 32),
        "title": clean_str(payload.get("text") or first.get("title"), 640),
        "buttons": [
            {"title": clean_str(b.get("title"), 80), "url": clean_str(b.get("url"), 2048)}
            for b in (buttons if isinstance(buttons, list) else [])[:10]
            if isinstance(b, dict)
        ],
    }
    return out


def _attachment(att: dict[str, Any]) -> dict[str, Any]:
    """One attachment reduced to type, URL, title, coordinates, sticker id or template."""
    payload = att.get("payload")
    if not isinstance(payload, dict):
        payload = {}
    entry: dict[str, Any] = {
        "type": clean_str(att.get("type"), 32) or "fallback",
        "url": clean_str(payload.get("url") or att.get("url"), 2048),
    }
    title = att.get("title") or payload.get("title")
    if title:
        entry["title"] = clean_str(title, 255)
    if payload.get("sticker_id") is not None:
        entry["sticker_id"] = clean_str(str(payload.get("sticker_id")), 32)
    coords = payload.get("coordinates")
    if isinstance(coords, dict):
        entry["coordinates"] = {k: coords.get(k) for k in ("lat", "long")}
    if entry["type"] == "template":
        entry["template"] = _template(payload)
    return entry


def _attachments(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The attachments of a message, each reduced by `_attachment` (non-objects dropped)."""
    atts = message.get("attachments")
    return [_attachment(att) for att in (atts if isinstance(atts, list) else []) if isinstance(att, dict)]


def _touch_inbound(conv: Conversation, contact: Contact, ts: datetime, *, unread: bool = True) -> None:
    """The person wrote: move the conversation's clocks, count it unread, reopen it if closed."""
    conv.last_message_at = max(conv.last_message_at or ts, ts)
    conv.last_inbound_at = max(conv.last_inbound_at or ts, ts)
    contact.last_inbound_at = max(contact.last_inbound_at or ts, ts)
    conv.note_inbound(ts)  # reply window end and "needs reply" (the inbox queues read them)
    if unread:
        conv.unread_count = (conv.unread_count or 0) + 1
    if conv.status == "closed":
        conv.status = "open"


def _body(w: Work) -> dict[str, Any]:
    """The item's own object (e.g. `item["delivery"]`), or {} when it is not an object."""
    body = w.item[w.kind]
    return body if isinstance(body, dict) else {}


def _handle_message(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """An inbound text or attachment message."""
    message = w.item["message"]
    text = clean_str(message.get("text"))
    atts = _attachments(message)
    meta: dict[str, Any] = {}
    qr = message.get("quick_reply")
    if isinstance(qr, dict) and qr.get("payload") is not None:
        meta["quick_reply_payload"] = clean_str(qr.get("payload"), 1000)
    if isinstance(message.get("reply_to"), dict) and message["reply_to"].get("mid"):
        meta["reply_to_mid"] = clean_str(message["reply_to"]["mid"], 255)
    if text is None and not atts:
        return False
    score = csat.answer_score(conv, meta.get("quick_reply_payload"))
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=clean_str(message.get("mid"), 255),
        direction="in",
        text=text,
        attachments=atts or None,
        kind="attachment" if atts and text is None else "text",
        status="received",
        created_at=w.ts,
        meta=meta or None,
    )
    if msg is not None and score is not None:
        csat.record_answer(conv, score, w.ts)  # a rating: never reopens nor counts as unread
    elif msg is not None:
        _touch_inbound(conv, contact, w.ts)
    return True


def _confirm_ours(batch: Batch, conv: Conversation, w: Work, mid: str | None) -> bool:
    """An echo of a message we sent (metadata names it): mark it sent; False when not ours."""
    metadata = w.item["message"].get("metadata")
    if not (isinstance(metadata, str) and metadata.startswith(OUR_METADATA_PREFIX)):
        return False
    ours_id = metadata[len(OUR_METADATA_PREFIX) :]
    ours = db.session.get(Message, int(ours_id)) if ours_id.isdigit() and len(ours_id) < 12 else None
    if ours is None or ours.conversation_id != conv.id:
        return False
    if ours.mid is None and mid and mid not in batch.mids:
        ours.mid = mid
        batch.mids.add(mid)
    if ours.status in {"queued", "sending"}:
        ours.status = "sent"
    ours.sent_at = ours.sent_at or w.ts
    return True


def _handle_echo(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """The Page's own message: ours confirmed as sent, or one sent elsewhere stored as outbound."""
    message = w.item["message"]
    mid = clean_str(message.get("mid"), 255)
    if _confirm_ours(batch, conv, w, mid):
        return True
    text = clean_str(message.get("text"))
    atts = _attachments(message)
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=mid,
        direction="out",
        text=text,
        attachments=atts or None,
        kind="attachment" if atts and text is None else "text",
        status="sent",
        created_at=w.ts,
        sent_at=w.ts,
        meta={"echo": True, "app_id": clean_str(message.get("app_id"), 64)},
    )
    if msg is not None:
        conv.last_message_at = max(conv.last_message_at or w.ts, w.ts)
        if w.ts >= (conv.last_inbound_at or w.ts):
            conv.note_outbound()  # answered from elsewhere (the Page inbox): no longer waiting
    return True


def _bulk_status(conv: Conversation, statuses: tuple[str, ...], cond: Any, values: dict[str, Any]) -> None:
    """Watermark update of our outbound messages; pending changes are flushed first so the
    UPDATE sees them, and loaded messages are expired after so nothing stale is written back."""
    if db.session.new or db.session.dirty:
        db.session.flush()
    db.session.execute(
        update(Message)
        .where(
            Message.conversation_id == conv.id,
            Message.direction == "out",
            Message.status.in_(statuses),
            cond,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Message) and obj.conversation_id == conv.id:
            db.session.expire(obj)


def _sent_before(watermark: datetime) -> Any:
    """Our messages sent (or, unsent, created) at or before a delivery/read watermark."""
    return func.coalesce(Message.sent_at, Message.created_at) <= watermark


def _handle_delivery(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """Our messages up to the watermark, or with the listed mids, are delivered."""
    delivery = _body(w)
    watermark = ms(delivery.get("watermark"))
    raw_mids = delivery.get("mids")
    if not isinstance(raw_mids, list):
        raw_mids = []
    mids = [str(m)[:255] for m in raw_mids if isinstance(m, str) and clean_str(m) == m]
    conds = []
    if watermark is not None:
        conds.append(_sent_before(watermark))
    if mids:
        conds.append(Message.mid.in_(mids))
    if not conds:
        return False
    now = watermark or utcnow()
    _bulk_status(
        conv,
        ("sending", "sent"),
        or_(*conds),
        {"status": "delivered", "delivered_at": func.coalesce(Message.delivered_at, now)},
    )
    return True


def _handle_read(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """Our messages up to the watermark are read (and so delivered)."""
    watermark = ms(_body(w).get("watermark"))
    if watermark is None:
        return False
    _bulk_status(
        conv,
        ("sending", "sent", "delivered"),
        _sent_before(watermark),
        {
            "status": "read",
            "read_at": func.coalesce(Message.read_at, watermark),
            "delivered_at": func.coalesce(Message.delivered_at, watermark),
        },
    )
    return True


def _handle_postback(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """A button press: a postback message with its payload and referral."""
    postback = _body(w)
    meta: dict[str, Any] = {"payload": clean_str(postback.get("payload"), 1000)}
    if isinstance(postback.get("referral"), dict):
        meta["referral"] = {k: clean_str(postback["referral"].get(k), 255) for k in ("ref", "source", "type")}
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=candidate_mid(w),
        direction="in",
        text=clean_str(postback.get("title")),
        kind="postback",
        status="received",
        created_at=w.ts,
        meta=meta,
    )
    if msg is not None:
        _touch_inbound(conv, contact, w.ts)
        if self_service.is_privacy_payload(meta["payload"]):
            self_service.open_from_messenger(contact, meta["payload"])
    return True


def _handle_reaction(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """A reaction to a message: stored, but not counted unread."""
    reaction = _body(w)
    meta = {k: clean_str(reaction.get(k), 255) for k in ("reaction", "emoji", "action", "mid")}
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=candidate_mid(w),
        direction="in",
        text=meta["emoji"],
        kind="reaction",
        status="received",
        created_at=w.ts,
        meta=meta,
    )
    if msg is not None:
        conv.last_message_at = max(conv.last_message_at or w.ts, w.ts)
        edits.apply_reaction(conv, meta, w.ts)  # shown on the message it reacts to
    return True


def _handle_simple(batch: Batch, conv: Conversation, contact: Contact, w: Work) -> bool:
    """Referrals and optins: a message of that kind with their non-personal fields."""
    body = _body(w)
    keys = ("ref", "source", "type", "ad_id") if w.kind == "referral" else ("ref", "type", "title")
    meta = {k: clean_str(body.get(k), 255) for k in keys if body.get(k) is not None}
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=candidate_mid(w),
        direction="in",
        text=None,
        kind=w.kind,
        status="received",
        created_at=w.ts,
        meta=meta or None,
    )
    if msg is not None:
        _touch_inbound(conv, contact, w.ts, unread=False)
    return True


HANDLERS: dict[str, Handler] = {
    "message": _handle_message,
    "echo": _handle_echo,
    "delivery": _handle_delivery,
    "read": _handle_read,
    "postback": _handle_postback,
    "reaction": _handle_reaction,
    "referral": _handle_simple,
    "optin": _handle_simple,
    "message_edit": edits.handle_edit,
}


def handle(batch: Batch, w: Work) -> bool:
    """Apply one item to its contact's conversation; False when it carried nothing to apply."""
    contact = batch.contacts.get((w.page.id, w.psid))
    if contact is None:  # an item that may not create its contact (an edit) for someone unknown
        return False
    conv = batch.convs[contact.id]
    was_closed = conv.status == "closed"
    applied = HANDLERS[w.kind](batch, conv, contact, w)
    if was_closed and conv.status != "closed":
        batch.arrivals.add(conv.id)  # reopened by the contact: auto-assignment looks at it
    return applied
