"""Private notes on a conversation: staff only, encrypted, never sent to Meta.

`@username` in a note notifies that person when they exist, are active and may read
conversations (Admin, Support Manager, Agent); any other `@word` stays plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import select

from app import db
from app.audit.service import record
from app.conversations.exceptions import NoteRefused
from app.conversations.models import Conversation, Message
from app.conversations.workspace_models import ConversationNote
from app.core.context import current_actor
from app.core.models import utcnow
from app.core.roles import ROLE_ADMIN, ROLE_AGENT, ROLE_SUPPORT_MANAGER
from app.notifications.models import NotificationKind
from app.notifications.services import notify

MAX_NOTE_LENGTH = 5000
NOTES_PER_PAGE = 200
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.\-]{0,63})")
READERS = (ROLE_ADMIN, ROLE_SUPPORT_MANAGER, ROLE_AGENT)


def clean_note(text: Any) -> str:
    """The note's text, or the reason it is refused (nothing is written then)."""
    if not isinstance(text, str):
        raise NoteRefused("the note must be text", status=400)
    cleaned = text.strip()
    if not cleaned:
        raise NoteRefused("the note is empty")
    if len(cleaned) > MAX_NOTE_LENGTH:
        raise NoteRefused(f"the note is {len(cleaned)} characters long; at most {MAX_NOTE_LENGTH} are allowed")
    return cleaned


def mentioned_usernames(text: str) -> list[str]:
    """`@names` in the order written, without duplicates or trailing punctuation."""
    seen: list[str] = []
    for raw in MENTION.findall(text):
        name = raw.rstrip(".-")
        if name and name not in seen:
            seen.append(name)
    return seen


def mentioned_users(text: str) -> list[User]:
    """The mentioned people who exist, are active and can read conversations."""
    names = mentioned_usernames(text)
    if not names:
        return []
    query = select(User).where(
        User.username.in_(names),
        User.active.is_(True),
        User.roles.any(Role.name.in_(READERS)),
    )
    return list(db.session.scalars(query.order_by(User.id)))


def add_note(conversation: Conversation, text: Any, author_id: int | None = None) -> ConversationNote:
    """Store the note and notify the people it mentions, in one transaction; audited (no text)."""
    cleaned = clean_note(text)
    author = author_id if author_id is not None else current_actor().id
    note = ConversationNote(conversation_id=conversation.id, author_id=author, text=cleaned, created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    mentioned = [user.id for user in mentioned_users(cleaned) if user.id != author]
    for user_id in mentioned:
        notify(user_id, NotificationKind.MENTION, conversation_id=conversation.id, actor_id=author)
    record("note_added", "conversation", conversation.id, {"note_id": note.id, "mentioned_user_ids": mentioned})
    db.session.commit()
    return note


def notes_between(conversation: Conversation, start: datetime | None, end: datetime | None) -> list[ConversationNote]:
    """The conversation's notes with start <= created_at < end (None: open-ended), oldest first;
    at most the newest NOTES_PER_PAGE of them."""
    query = select(ConversationNote).where(ConversationNote.conversation_id == conversation.id)
    if start is not None:
        query = query.where(ConversationNote.created_at >= start)
    if end is not None:
        query = query.where(ConversationNote.created_at < end)
    newest = query.order_by(ConversationNote.created_at.desc(), ConversationNote.id.desc()).limit(NOTES_PER_PAGE)
    return list(reversed(list(db.session.scalars(newest))))


@dataclass(frozen=True)
class ThreadNotes:
    """Notes placed in a page of the thread: before a message (by its id), or after the last."""

    before: dict[int, list[ConversationNote]]
    tail: list[ConversationNote]


def thread_notes(
    conversation: Conversation, messages: list[Message], has_older: bool, is_older_page: bool
) -> ThreadNotes:
    """The notes that belong on this page of the thread, time-ordered with its messages.

    The newest page shows every note from its first message on (all notes when there is no
    older page); an older page shows those from its first message up to the next page's.
    """
    start = messages[0].created_at if messages and has_older else None
    end = None
    if is_older_page and messages:
        later = db.session.scalar(
            select(Message.created_at)
            .where(Message.conversation_id == conversation.id, Message.created_at > messages[-1].created_at)
            .order_by(Message.created_at)
            .limit(1)
        )
        end = later
    before: dict[int, list[ConversationNote]] = {}
    pending = notes_between(conversation, start, end)
    for message in messages:
        while pending and pending[0].created_at < message.created_at:
            before.setdefault(message.id, []).append(pending.pop(0))
    return ThreadNotes(before=before, tail=pending)
