"""Keeping the index in step with the `message` table, wherever a message is written.

One `after_flush` hook: a new message with text is indexed, a message whose text changed (an
edit; an unsend empties it) is indexed again, a deleted message loses its tokens. It runs in
the transaction that writes the message, so the index never disagrees with the table. The
webhook request only stores raw events: messages (and so their tokens) are written by the
worker that applies them, and an agent's reply indexes its own few words. Bulk DELETEs of
messages (erasure, retention) remove tokens explicitly (`app.privacy.erasure.batched_delete`);
on PostgreSQL the foreign key's ON DELETE CASCADE is a second guard.
"""

from __future__ import annotations

from typing import Any

from flask import has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app import db
from app.conversations.models import Message
from app.search import services

_installed = False


def _indexable(msg: Message) -> services.Indexable:
    return services.Indexable(msg.id, msg.conversation_id, msg.created_at, msg.text)


def _changed(session: Session) -> tuple[list[services.Indexable], list[int]]:
    """(messages to index, message ids whose tokens go) of this flush."""
    add: list[services.Indexable] = []
    drop: list[int] = []
    for obj in session.new:
        if isinstance(obj, Message) and obj.text:
            add.append(_indexable(obj))
    for obj in session.dirty:
        if isinstance(obj, Message) and inspect(obj).attrs.text.history.has_changes():
            drop.append(obj.id)
            if obj.text:
                add.append(_indexable(obj))
    for obj in session.deleted:
        if isinstance(obj, Message) and obj.id is not None:
            drop.append(obj.id)
    return add, drop


def _after_flush(session: Session, _context: Any) -> None:
    if not has_app_context() or not services.indexing_enabled():
        return
    add, drop = _changed(session)
    if not add and not drop:
        return
    conn = session.connection()
    services.do_unindex(conn, drop)
    services.do_index(conn, add)


def install() -> None:
    """Attach the hook once per process."""
    global _installed
    if _installed:
        return
    event.listen(db.session.session_factory.class_, "after_flush", _after_flush)
    _installed = True
