"""Keeping media rows in step with messages, wherever a message is written or deleted.

`after_flush`: a new inbound message (or echo) with fetchable attachments gets one pending row per file
in the same transaction; the rows' fetch jobs are queued `after_commit` (never for a
transaction that rolled back, never before the rows are visible to the worker).
`before_flush`: a message deleted through the ORM (or the page, contact or conversation it
belongs to: an Admin's grid delete) loses its files before its row goes (PostgreSQL's
cascade would otherwise remove the rows, and with them the store keys). Bulk deletes
(erasure, retention) call `services.purge_messages` themselves.
"""

from __future__ import annotations

from typing import Any

from flask import has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.media import inbound, services
from app.pages.models import Page

_PENDING_KEY = "omnicrm_media_fetch"
# parent rows whose deletion takes messages along: the conversation column naming them
# (None: the object is the conversation itself)
_PARENTS: dict[type, Any] = {Conversation: None, Contact: Conversation.contact_id, Page: Conversation.page_id}
_installed = False


def _deleted_messages(session: Session) -> list[Any]:
    """SELECTs of the message ids this flush deletes, directly or by cascade (a deleted page,
    contact or conversation takes its messages with it in the database)."""
    selects: list[Any] = []
    ids = [obj.id for obj in session.deleted if isinstance(obj, Message) and obj.id is not None]
    if ids:
        selects.append(ids)
    for obj in session.deleted:
        if obj.__class__ in _PARENTS and obj.id is not None:
            column = _PARENTS[obj.__class__]
            convs = select(Conversation.id).where(column == obj.id) if column is not None else [obj.id]
            selects.append(select(Message.id).where(Message.conversation_id.in_(convs)))
    return selects


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not has_app_context() or not session.deleted:
        return
    for message_ids in _deleted_messages(session):
        services.purge_messages(session.connection(), message_ids)


def _after_flush(session: Session, _context: Any) -> None:
    if not has_app_context():
        return
    new = [m for m in session.new if isinstance(m, Message) and m.attachments and services.fetched_from_meta(m)]
    if not new:
        return
    ids = services.add_pending(session.connection(), new)
    if ids:
        session.info.setdefault(_PENDING_KEY, []).extend(ids)


def _after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    if ids and has_app_context():
        inbound.enqueue_fetches(ids)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def install() -> None:
    """Attach the hooks once per process."""
    global _installed
    if _installed:
        return
    cls = db.session.session_factory.class_
    event.listen(cls, "before_flush", _before_flush)
    event.listen(cls, "after_flush", _after_flush)
    event.listen(cls, "after_commit", _after_commit)
    event.listen(cls, "after_rollback", _after_rollback)
    _installed = True
