"""The send job's file part: upload once with the Attachment Upload API, then send by id.

The `attachment_id` Meta returns is committed on the `media_file` row right after the upload,
before the message is sent: a retry (transient error, worker restart) sends the same id and
never uploads the file again. The upload itself shows nothing to the contact, so the send's
never-twice guarantee (tasks.py) is unchanged: it still hinges on the Send API call alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from app import db
from app.conversations.models import Conversation, Message
from app.core.channels import Channel
from app.media import storage
from app.media.models import MediaDirection, MediaFile, MediaStatus
from app.messenger.client import GraphClient, InvalidMessageError


@dataclass
class OutMedia:
    """What sending one file needs (plain values, loaded with the claimed batch)."""

    media_id: int
    media_type: str
    content_type: str
    storage_key: str | None
    attachment_id: str | None
    name: str
    platform: str | None  # "instagram" for an Instagram conversation (Meta's upload parameter)


def load(message_ids: list[int]) -> dict[int, OutMedia]:
    """The stored outbound file of each claimed message that has one (one query)."""
    rows = db.session.execute(
        select(
            MediaFile.id,
            MediaFile.message_id,
            MediaFile.position,
            MediaFile.media_type,
            MediaFile.content_type,
            MediaFile.storage_key,
            MediaFile.attachment_id,
            MediaFile.status,
            Message.attachments,
            Conversation.channel,
        )
        .join(Message, Message.id == MediaFile.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(MediaFile.message_id.in_(message_ids), MediaFile.direction == MediaDirection.OUT)
    ).all()
    out = {}
    for r in rows:
        items = r.attachments if isinstance(r.attachments, list) else []
        item = items[r.position] if r.position < len(items) and isinstance(items[r.position], dict) else {}
        out[r.message_id] = OutMedia(
            media_id=r.id,
            media_type=r.media_type,
            content_type=r.content_type or "application/octet-stream",
            storage_key=r.storage_key if r.status == MediaStatus.STORED else None,
            attachment_id=r.attachment_id,
            name=str(item.get("name") or "file"),
            platform="instagram" if r.channel == Channel.INSTAGRAM else None,
        )
    return out


def graph_attachment(client: GraphClient, fb_page_id: str, token: str, media: OutMedia) -> dict[str, Any]:
    """The Send API's `attachment` for this file, uploading it first if Meta has no id for it yet.

    Graph errors propagate (the job retries or fails the message as for text); a file no
    longer in the store (erased meanwhile) fails the message with that reason.
    """
    if media.attachment_id is None:
        if media.storage_key is None:
            raise InvalidMessageError("the file is no longer stored, so it cannot be sent")
        try:
            data = storage.get(media.storage_key)
        except storage.MediaMissing:
            raise InvalidMessageError("the file is no longer stored, so it cannot be sent") from None
        file = (media.name, data, media.content_type)
        media.attachment_id = client.upload_attachment(
            fb_page_id, token, media.media_type, file, platform=media.platform
        )
        db.session.execute(
            update(MediaFile).where(MediaFile.id == media.media_id).values(attachment_id=media.attachment_id)
        )
        db.session.commit()  # before the send: a retry reuses the id, never uploads again
    return {"type": media.media_type, "payload": {"attachment_id": media.attachment_id}}
