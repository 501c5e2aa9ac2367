"""Demo attachments: a few customers send photos, a sticker and a document (and the Instagram
demo's stories are kept), stored as if the worker had fetched them from Meta's CDN (the bytes
come from the fake Graph's CDN, so the conversation view shows real pictures without a network)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from app import db
from app.conversations.models import Conversation, Message
from app.devtools.fakegraph.cdn import TYPES, body_for
from app.media import inbound
from app.media.fetch import Fetched
from app.media.models import MediaFile, MediaStatus

_CDN = "https://scontent.xx.fbcdn.net/v/t1.15752-9/"
# (text, [(type, file name)])
_SENDS: list[tuple[str | None, list[tuple[str, str]]]] = [
    ("The rear light arrived broken, see photo", [("image", "demo-broken-light.png")]),
    (None, [("image", "demo-receipt.png"), ("image", "demo-box.png")]),
    (None, [("image", "demo-like-sticker.png")]),
    ("Here is the invoice you asked for", [("file", "demo-invoice.pdf")]),
]


def seed(progress: Callable[[str], None] = print) -> None:
    """Add the sends to the newest open conversations and store their files."""
    convs = db.session.scalars(
        select(Conversation).where(Conversation.status == "open").order_by(Conversation.id.desc()).limit(len(_SENDS))
    ).all()
    stored = 0
    for conv, (text, files) in zip(convs, _SENDS, strict=False):
        at = (conv.last_message_at or conv.created_at) + timedelta(seconds=30)
        msg = Message(
            conversation_id=conv.id,
            direction="in",
            text=text,
            kind="attachment" if text is None else "text",
            status="received",
            created_at=at,
            mid=f"m_demo_media_{conv.id}",
            attachments=[{"type": kind, "url": _CDN + name} for kind, name in files],
        )
        db.session.add(msg)
        conv.last_message_at = at
        db.session.commit()  # the listener added one pending row per file
        rows = db.session.scalars(select(MediaFile).where(MediaFile.message_id == msg.id).order_by(MediaFile.position))
        stored += sum(_store(row.id, name) for row, (_kind, name) in zip(list(rows), files, strict=True))
    # the Instagram demo's story mention and replied-to story (demo_instagram) wait as pending
    stories = db.session.scalars(select(MediaFile.id).where(MediaFile.status == MediaStatus.PENDING)).all()
    stored += sum(_store(media_id, f"demo-story-{media_id}.png") for media_id in stories)
    progress(f"media: {stored} attachment files stored (encrypted)")


def _store(media_id: int, name: str) -> bool:
    """Store the fake CDN's bytes for `name` as the fetched file of a pending row."""
    ext = name.rsplit(".", 1)[1]
    data = body_for(name, ext)
    got = Fetched(data, TYPES[ext], hashlib.sha256(data).hexdigest())
    return inbound.store_fetched(media_id, got, 1) == MediaStatus.STORED
