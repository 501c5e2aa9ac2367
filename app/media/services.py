"""Media services: rows for new inbound attachments, the URLs the conversation view shows,
the file a person may download, and removal of files with their messages.

Removal deletes the row and returns its store key in one statement (`DELETE ... RETURNING`), so
a fetch job finishing at the same moment either sees its row gone (and drops its blob) or
has already written the key that the DELETE returns: no file outlives its row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import islice
from typing import Any

from flask import has_request_context, url_for
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from app import db
from app.conversations.models import Message
from app.media import storage
from app.media.exceptions import MediaError
from app.media.fetch import FETCHABLE
from app.media.models import MediaDirection, MediaFile, MediaStatus

logger = logging.getLogger(__name__)

#: a blob no row names is removed once it is this old: a fetch or an upload still between
#: writing its file and committing its row (seconds) keeps its file
ORPHAN_AFTER_SECONDS = 24 * 3600

_table = MediaFile.__table__
#: what a browser may show in the page; anything else is served as a download
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/ogg",
        "audio/wav",
        "audio/webm",
    }
)


def fetchable(attachments: Any) -> list[tuple[int, str]]:
    """(position, type) of the attachments worth fetching: files with a URL, not locations,
    fallback links or templates."""
    if not isinstance(attachments, list):
        return []
    out = []
    for position, att in enumerate(attachments):
        if isinstance(att, dict) and att.get("type") in FETCHABLE and att.get("url"):
            out.append((position, str(att["type"])))
    return out


def fetched_from_meta(message: Message) -> bool:
    """Whether a message's files are links to Meta's CDN that we fetch: inbound messages, and
    echoes (the Page's own messages sent from elsewhere, such as the Page inbox). Our own
    replies' files are ours already."""
    meta = message.meta if isinstance(message.meta, dict) else {}
    return message.direction == "in" or bool(meta.get("echo"))


def add_pending(conn: Connection, messages: Iterable[Message]) -> list[int]:
    """A pending row per fetchable attachment of these (flushed) messages; their ids. The rows'
    direction is `in`: the file comes from Meta, even when the Page sent it (an echo)."""
    rows = [
        {
            "message_id": m.id,
            "position": position,
            "direction": MediaDirection.IN.value,
            "media_type": kind,
            "status": MediaStatus.PENDING.value,
            "attempts": 0,
        }
        for m in messages
        for position, kind in fetchable(m.attachments)
    ]
    if not rows:
        return []
    result = conn.execute(insert(_table).returning(_table.c.id), rows)
    return [int(r[0]) for r in result]


def purge_messages(conn: Connection, message_ids: Any) -> int:
    """Delete the media rows of these messages (a list or a SELECT of ids) and their files.
    Called before the messages themselves go. Returns files removed."""
    keys = conn.execute(
        delete(_table).where(_table.c.message_id.in_(message_ids)).returning(_table.c.storage_key)
    ).scalars()
    removed = sum(1 for key in keys if key and storage.delete(key))
    if removed:
        logger.info("media: %s stored file(s) removed with their messages", removed)
    return removed


def sweep_orphans(older_than_seconds: float = ORPHAN_AFTER_SECONDS, batch: int = 500) -> int:
    """Remove blobs that no `media_file` row names: left by a crash between writing a file and
    committing its row. Returns files removed."""
    removed = 0
    keys = storage.stale_keys(older_than_seconds)
    while chunk := list(islice(keys, batch)):
        named = set(db.session.scalars(select(MediaFile.storage_key).where(MediaFile.storage_key.in_(chunk))))
        db.session.rollback()
        removed += sum(1 for key in chunk if key not in named and storage.delete(key))
    if removed:
        logger.warning("media: %s orphaned file(s) removed (no row named them)", removed)
    return removed


def forget_message(message: Message) -> int:
    """An unsent message: its files and rows go now (in the caller's transaction)."""
    if message.id is None:
        return 0
    return purge_messages(db.session.connection(), [message.id])


def media_urls(message_ids: list[int]) -> dict[int, dict[int, str]]:
    """URLs of our stored copies, by message id then attachment position (stored files only).

    The conversation view shows a stored copy inline; an attachment with no entry here is not
    (yet) stored: it is shown as a placeholder with its type.
    """
    ids = [int(i) for i in message_ids if i is not None]
    if not ids:
        return {}
    rows = db.session.execute(
        select(MediaFile.id, MediaFile.message_id, MediaFile.position).where(
            MediaFile.message_id.in_(ids), MediaFile.status == MediaStatus.STORED
        )
    )
    out: dict[int, dict[int, str]] = {}
    for media_id, message_id, position in rows:
        out.setdefault(message_id, {})[position] = media_url(media_id)
    return out


def media_url(media_id: int) -> str:
    """The serving route of a file (a plain path outside a request: jobs, the shell)."""
    if has_request_context():
        return url_for("MediaView.show", media_id=media_id)
    return f"/media/{media_id}"


def stored_file(media_id: int) -> tuple[MediaFile, bytes]:
    """A stored file and its decrypted bytes; MediaError (404) when there is none."""
    row = db.session.get(MediaFile, media_id)
    if row is None or row.status != MediaStatus.STORED or not row.storage_key:
        raise MediaError("no such file")
    try:
        return row, storage.get(row.storage_key)
    except storage.MediaMissing as exc:
        raise MediaError("the file is no longer stored") from exc


def disposition(row: MediaFile) -> str:
    """`inline` for pictures, video and sound a browser shows safely; `attachment` for the rest."""
    inline = row.media_type != "file" and (row.content_type or "") in INLINE_TYPES
    name = f"media-{row.id}"
    return f'{"inline" if inline else "attachment"}; filename="{name}"'
