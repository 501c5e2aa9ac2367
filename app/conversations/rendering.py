"""What a message looks like in the conversation view: messages turned into display items.

The template only lays items out; every decision (which attachment is inline, which URL may be
a link, what a reaction or a referral means) is made here, once, for the page and its poller.
Everything from Meta stays plain text: the template escapes it, and only http(s) URLs survive.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app import db
from app.conversations.attachments import sent_files
from app.conversations.models import Conversation, Direction, Message
from app.conversations.services import failure_fields, safe_url
from app.media.services import media_urls

STATUS_CLASS = {
    "queued": "default",
    "sending": "info",
    "sent": "primary",
    "delivered": "success",
    "read": "success",
    "failed": "danger",
    "received": "default",
}
LIKE_STICKER_IDS = frozenset({"369239263222822", "369239343222814", "369239383222810"})  # the thumbs-up sizes
REACTION_EMOJI = {
    "like": "\U0001f44d",
    "dislike": "\U0001f44e",
    "love": "\u2764\ufe0f",
    "smile": "\U0001f606",
    "wow": "\U0001f62e",
    "sad": "\U0001f622",
    "angry": "\U0001f620",
}
LINK_TYPES = frozenset({"fallback", "share", "ig_reel", "reel", "ig_post", "link"})
MEDIA_TYPES = frozenset({"image", "video", "audio", "file"})
SNIPPET = 80
REFERRAL_SOURCES = {
    "ADS": "an ad",
    "SHORTLINK": "an m.me link",
    "IGME": "an ig.me link",
    "CUSTOMER_CHAT_PLUGIN": "the website chat plugin",
    "MESSENGER_CODE": "a Messenger code",
    "DISCOVER_TAB": "the Discover tab",
}


@dataclass(frozen=True)
class Button:
    title: str
    url: str | None = None


@dataclass(frozen=True)
class Part:
    """One attachment as shown: `kind` picks its layout in `_attachment.html`."""

    kind: str  # image, sticker, like, video, audio, file, location, link, template, story, placeholder
    type: str  # Meta's attachment type, shown on placeholders
    src: str | None = None  # our stored copy (inline)
    url: str | None = None  # Meta's original URL (a link opened by the browser, never fetched by us)
    title: str | None = None
    lat: float | None = None
    long: float | None = None
    buttons: tuple[Button, ...] = ()

    @property
    def map_url(self) -> str | None:
        if self.lat is None or self.long is None:
            return None
        return f"https://www.openstreetmap.org/?mlat={self.lat}&mlon={self.long}#map=16/{self.lat}/{self.long}"


@dataclass(frozen=True)
class Quote:
    """The message a reply answers: its anchor (None when not stored) and a snippet."""

    message_id: int | None
    snippet: str


@dataclass(frozen=True)
class Referral:
    """Where a conversation came from (an ad, an m.me / ig.me link, the chat plugin)."""

    source: str
    ref: str | None = None
    ad_id: str | None = None


@dataclass
class Item:
    """One thread row: the message and what the template shows of it."""

    message: Message
    parts: list[Part] = field(default_factory=list)
    badge: str | None = None  # "Quick reply", "Button", "Story reply"...
    unsent: bool = False
    edited: bool = False
    reactions: list[tuple[str, int]] = field(default_factory=list)
    quote: Quote | None = None
    referral: Referral | None = None
    story_url: str | None = None
    story_copy: str | None = None  # our stored copy of the replied-to story (stories vanish in 24 h)
    failure: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)  # our sent files (attachments.sent_files)

    @property
    def sig(self) -> str:
        """A short signature of what is shown: the poller replaces a row when it changes."""
        m = self.message
        shown = (m.text, m.kind, m.status, m.error_code, self.parts, self.badge, self.unsent, self.edited)
        extra = (
            self.reactions,
            self.quote,
            self.referral,
            self.story_url,
            self.story_copy,
            sorted(self.failure.items()),
            self.files,
        )
        return hashlib.sha256(repr((shown, extra)).encode()).hexdigest()[:12]


def _meta(message: Message) -> dict[str, Any]:
    return message.meta if isinstance(message.meta, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    """A stored JSON value as a dict ({} when it is anything else)."""
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 640) -> str | None:
    return value[:limit] if isinstance(value, str) and value.strip() else None


def _coordinate(value: Any, bound: float) -> float | None:
    """A latitude/longitude as a number within range, else None (never a string from Meta)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return round(number, 6) if -bound <= number <= bound else None


def _local_url(value: Any) -> str | None:
    """Our stored copy's URL: a path on this site (not `//host`), or an http(s) URL."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return safe_url(value)


def _template_part(att: dict[str, Any]) -> Part:
    template = _dict(att.get("template"))
    buttons = tuple(
        Button(title=_text(b.get("title"), 80) or "button", url=safe_url(b.get("url")))
        for b in template.get("buttons") or []
        if isinstance(b, dict)
    )
    return Part("template", "template", title=_text(template.get("title")) or _text(att.get("title")), buttons=buttons)


def _media_part(kind: str, src: str | None, url: str | None, title: str | None) -> Part:
    """A stored copy is shown inline; otherwise a placeholder with a link to Meta's URL."""
    if src is not None:
        return Part(kind, kind, src=src, url=url, title=title)
    return Part("placeholder", kind, url=url, title=title)


def part_of(att: Any, stored: str | None = None) -> Part | None:
    """One stored attachment dict as a display part (None when it is not a dict)."""
    if not isinstance(att, dict):
        return None
    kind = _text(att.get("type"), 32) or "file"
    url = safe_url(att.get("url"))
    title = _text(att.get("title"), 255)
    src = _local_url(stored)
    if kind == "image" and att.get("sticker_id") is not None:
        if str(att.get("sticker_id")) in LIKE_STICKER_IDS:
            return Part("like", "sticker")
        return _media_part("sticker", src, url, title) if src else Part("placeholder", "sticker", url=url)
    if kind in MEDIA_TYPES:
        return _media_part(kind, src, url, title)
    if kind == "location":
        coords = _dict(att.get("coordinates"))
        lat, long = _coordinate(coords.get("lat"), 90), _coordinate(coords.get("long"), 180)
        return Part("location", kind, url=url, title=title, lat=lat, long=long)
    if kind == "template":
        return _template_part(att)
    if kind in {"story", "story_mention"}:
        return Part("story", kind, src=src, url=url)
    return Part("link", kind, url=url, title=title)


def _reactions(meta: dict[str, Any]) -> list[tuple[str, int]]:
    """The reactions on a message, grouped by emoji with their counts (one per person)."""
    reaction = meta.get("reaction")
    if not isinstance(reaction, dict):
        return []
    emoji = _text(reaction.get("emoji"), 16) or REACTION_EMOJI.get(str(reaction.get("reaction")), "\u2b50")
    return [(emoji, 1)]


def referral_of(meta: dict[str, Any], kind: str) -> Referral | None:
    """A referral (a referral row's own fields, or one carried by a postback / message)."""
    body = meta if kind == "referral" else meta.get("referral")
    if not isinstance(body, dict) or not any(body.get(k) for k in ("source", "ref", "ad_id")):
        return None
    source = str(body.get("source") or "").upper()
    return Referral(
        source=REFERRAL_SOURCES.get(source, "a link" if not source else source.lower().replace("_", " ")),
        ref=_text(body.get("ref"), 255),
        ad_id=_text(body.get("ad_id"), 64),
    )


def _badge(message: Message, meta: dict[str, Any]) -> str | None:
    if message.kind == "postback":
        return "Button"
    if meta.get("quick_reply_payload") is not None:
        return "Quick reply"
    return {"story_reply": "Story reply", "story_mention": "Story mention", "optin": "Opt-in"}.get(message.kind)


def _snippet(message: Message) -> str:
    if message.kind == "unsent":
        return "message unsent"
    if message.text:
        text = " ".join(message.text.split())
        return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "\u2026"
    return f"[{message.kind}]"


def _quotes(conversation_id: int, mids: set[str]) -> dict[str, Quote]:
    """The messages these replies answer, by mid (one query)."""
    if not mids:
        return {}
    rows = db.session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.mid.in_(sorted(mids)))
    )
    return {m.mid: Quote(m.id, _snippet(m)) for m in rows if m.mid}


def _item(message: Message, stored: dict[int, str], quotes: dict[str, Quote]) -> Item:
    meta = _meta(message)
    item = Item(message=message, failure=failure_fields(message))
    if message.kind == "unsent" or meta.get("deleted"):
        item.unsent = True
        return item
    atts = message.attachments if isinstance(message.attachments, list) else []
    item.parts = [p for i, att in enumerate(atts) if (p := part_of(att, stored.get(i))) is not None]
    item.badge = _badge(message, meta)
    item.edited = bool(meta.get("edited"))
    item.reactions = _reactions(meta)
    item.referral = referral_of(meta, message.kind)
    story = _dict(meta.get("story"))
    item.story_url = safe_url(story.get("url"))
    if item.story_url:  # shown once, as the story link, not again as an attachment
        own = [p for p in item.parts if p.kind == "story" and p.url == item.story_url]
        item.story_copy = next((p.src for p in own if p.src), None)
        item.parts = [p for p in item.parts if p not in own]
    reply_mid = meta.get("reply_to_mid")
    if isinstance(reply_mid, str) and reply_mid:
        item.quote = quotes.get(reply_mid) or Quote(None, "an earlier message")
    return item


def display_items(messages: list[Message]) -> list[Item]:
    """The thread's rows: reactions are not rows (they show on their message)."""
    shown = [m for m in messages if m.kind != "reaction"]
    if not shown:
        return []
    stored = media_urls([m.id for m in shown])
    mids = {mid for m in shown if isinstance(mid := _meta(m).get("reply_to_mid"), str)}
    quotes = _quotes(shown[0].conversation_id, mids)
    sent = sent_files(shown)
    items = [_item(m, stored.get(m.id, {}), quotes) for m in shown]
    for item in items:
        if item.message.id in sent:  # an agent's file: shown by name, not as an inbound part
            item.files, item.parts = sent[item.message.id], []
    return items


def conversation_referrals(conversation: Conversation, limit: int = 3) -> list[Referral]:
    """Where the conversation came from: its newest distinct referrals (ads, links, plugin)."""
    rows = db.session.execute(
        select(Message.kind, Message.meta)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.IN,
            Message.kind.in_(("referral", "postback", "text", "attachment")),
            Message.meta.is_not(None),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(500)
    )
    out: list[Referral] = []
    for kind, meta in rows:
        ref = referral_of(meta, kind) if isinstance(meta, dict) else None
        if ref is not None and ref not in out:
            out.append(ref)
        if len(out) >= limit:
            break
    return out
