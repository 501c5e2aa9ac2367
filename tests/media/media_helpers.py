"""Meta-shaped attachment messages for the media tests (unique module name)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app import db
from app.conversations.models import Message
from app.media import inbound, storage
from app.media.models import MediaFile
from tests.webhooks.webhook_helpers import item


def attachment(kind: str, url: str, **payload) -> dict:
    return {"type": kind, "payload": {"url": url, **payload}}


def media_item(mid: str, *attachments: dict, ts: int | None = None) -> dict:
    """An inbound message carrying these attachments (Meta's documented shape)."""
    return item(ts=ts, message={"mid": mid, "attachments": list(attachments)})


def media_rows() -> list[MediaFile]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(MediaFile).order_by(MediaFile.message_id, MediaFile.position)))


def blob_path(key: str) -> Path:
    """Where the store keeps a key's blob (the test looks at the disk itself)."""
    return storage.media_dir() / key[:2] / key


def stored_file(conversation, url: str, kind: str = "image", **message) -> MediaFile:
    """An inbound message with one attachment, fetched and stored (through the job's code)."""
    msg = Message(
        conversation_id=conversation.id,
        direction="in",
        attachments=[{"type": kind, "url": url}],
        status="received",
        **message,
    )
    db.session.add(msg)
    db.session.commit()
    row = db.session.scalar(select(MediaFile).where(MediaFile.message_id == msg.id))
    assert inbound.fetch_one(row.id) == "stored"
    db.session.expire_all()
    return db.session.get(MediaFile, row.id)
