"""An agent's file reply: checked, stored encrypted and queued in one go (docs/attachments.md).

The file is checked (attachment_types) and the reply rules applied (window, HUMAN_AGENT tag,
page and contact) before anything is written; then the blob goes into the media store and the
messages and their `media_file` row are committed together, or the blob is removed again. A
text sent with the file is its own message, queued just before the file's, so the contact
reads them in the order the agent wrote them. The send job (outbound_media) uploads the file
once and sends it by `attachment_id`.
"""

from __future__ import annotations

import hashlib
from typing import IO, Any

from flask import current_app
from sqlalchemy import select

from app import db
from app.conversations import services
from app.conversations.attachment_types import AttachmentRefused, check_file
from app.conversations.models import Conversation, Direction, Message
from app.conversations.outbound import enqueue_send
from app.core.models import utcnow
from app.media import services as media_services
from app.media import storage
from app.media.models import MediaDirection, MediaFile, MediaStatus

ATTACHMENT_KIND = "attachment"


def max_bytes() -> int:
    """The largest file a reply may carry (ATTACHMENT_MAX_BYTES, Meta's 25 MB by default)."""
    return int(current_app.config.get("ATTACHMENT_MAX_BYTES") or 25 * 1000 * 1000)


def read_upload(stream: IO[bytes]) -> bytes:
    """The uploaded file's bytes, reading at most one byte past the limit (the check says 413)."""
    return stream.read(max_bytes() + 1)


def queue_file_reply(
    conversation: Conversation,
    *,
    filename: str | None,
    content_type: str | None,
    data: bytes,
    text: Any = None,
    human_agent: bool = False,
    author_id: int | None = None,
) -> list[Message]:
    """Check the file and the reply rules, store the file and queue [text,] file; returns them."""
    checked = check_file(filename, content_type, data, conversation.channel, max_bytes())
    if text is not None and not isinstance(text, str):
        raise AttachmentRefused("text must be a string", status=400)
    clean = services.clean_text(text, conversation.channel) if text and text.strip() else None
    services.check_can_send(conversation)
    messaging_type, tag = services.decide_messaging_type(conversation, bool(human_agent))
    key = storage.put(checked.data)
    try:
        messages = []
        if clean is not None:
            messages.append(services.add_reply(conversation, messaging_type, tag, author_id, text=clean))
        message = services.add_reply(
            conversation,
            messaging_type,
            tag,
            author_id,
            text=None,
            kind=ATTACHMENT_KIND,
            attachments=[{"type": checked.media_type, "name": checked.name}],
        )
        messages.append(message)
        db.session.add(
            MediaFile(
                message_id=message.id,
                position=0,
                direction=MediaDirection.OUT,
                media_type=checked.media_type,
                content_type=checked.content_type,
                size=len(checked.data),
                storage_key=key,
                sha256=hashlib.sha256(checked.data).hexdigest(),
                status=MediaStatus.STORED,
                stored_at=utcnow(),
            )
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        storage.delete(key)  # nothing half-written: no rows, no orphan blob
        raise
    enqueue_send(message.id)
    return messages


def sent_files(messages: list[Message]) -> dict[int, list[dict[str, Any]]]:
    """The files of our outbound messages, for the thread: name, type, size and (once the
    media route serves it) a URL. Names come from the encrypted message row; shown escaped."""
    ids = [m.id for m in messages if m.direction == Direction.OUT and m.kind == ATTACHMENT_KIND]
    if not ids:
        return {}
    by_message = {m.id: m for m in messages}
    out: dict[int, list[dict[str, Any]]] = {}
    rows = db.session.execute(
        select(MediaFile.id, MediaFile.message_id, MediaFile.position)
        .add_columns(MediaFile.media_type, MediaFile.size, MediaFile.status)
        .where(MediaFile.message_id.in_(ids), MediaFile.direction == MediaDirection.OUT)
        .order_by(MediaFile.message_id, MediaFile.position)
    )
    for row in rows:
        items = by_message[row.message_id].attachments
        item = items[row.position] if isinstance(items, list) and row.position < len(items) else {}
        name = item.get("name") if isinstance(item, dict) else None
        out.setdefault(row.message_id, []).append(
            {
                "name": str(name or "file"),
                "type": row.media_type,
                "size": row.size,
                "deleted": row.status == MediaStatus.DELETED,
                "url": media_services.media_url(row.id) if row.status == MediaStatus.STORED else None,
            }
        )
    return out
