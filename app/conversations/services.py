"""Conversation and reply rules, shared by the inbox view, the REST API and the jobs.

Views and the API only translate HTTP to these calls; every check (permissions aside) lives
here so a reply refused in the browser is refused the same way over the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from app import db
from app.audit.service import record
from app.conversations import (
    csat,
    failures,
    queue_counts,  # noqa: F401 - its listeners drop cached inbox counts on commit (jobs too)
    refusals,
)
from app.conversations.assignment import _notify_assignee, check_assignee
from app.conversations.exceptions import ConversationError, ReplyRefused
from app.conversations.models import (
    CONVERSATION_STATUSES,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
)
from app.conversations.outbound import enqueue_send, send_refusal
from app.core.channels import label, text_limit
from app.core.context import current_actor
from app.core.models import utcnow
from app.core.roles import ROLE_ADMIN, ROLE_AGENT, ROLE_SUPPORT_MANAGER

MAX_TEXT_LENGTH = 2000
RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"
THREAD_PAGE_SIZE = 50


def validate_conversation_update(conversation: Conversation) -> None:
    """The API's edit may only set a known status (the grid offers nothing else)."""
    if conversation.status not in CONVERSATION_STATUSES:
        raise ConversationError("status must be open, pending or closed")


# ---------------------------------------------------------------------------- reply window


@dataclass(frozen=True)
class ReplyWindow:
    """What the agent may send right now, and for how long (shown on the contact card)."""

    last_inbound_at: datetime | None
    response_left: timedelta | None  # time left in the 24-hour window (None: closed)
    human_agent_left: timedelta | None  # time left for a HUMAN_AGENT-tagged reply (None: closed)
    human_agent_enabled: bool
    channel: str = "messenger"  # whose rules the refusal names (Messenger or Instagram)

    @property
    def can_reply(self) -> bool:
        return self.response_left is not None or (self.human_agent_enabled and self.human_agent_left is not None)


def last_inbound_at(conversation: Conversation) -> datetime | None:
    """The contact's last message to the page (the window is per contact)."""
    contact = conversation.contact  # None when the contact row is gone: the conversation still shows
    values = [v for v in (contact.last_inbound_at if contact else None, conversation.last_inbound_at) if v]
    return max(values) if values else None


def reply_window(conversation: Conversation, now: datetime | None = None) -> ReplyWindow:
    """Time left in Meta's 24-hour and 7-day (HUMAN_AGENT) windows, from the last inbound message."""
    now = now or utcnow()
    last = last_inbound_at(conversation)
    response_left = human_left = None
    if last is not None:
        age = now - last
        if age <= RESPONSE_WINDOW:
            response_left = RESPONSE_WINDOW - age
        if age <= HUMAN_AGENT_WINDOW:
            human_left = HUMAN_AGENT_WINDOW - age
    return ReplyWindow(
        last,
        response_left,
        human_left,
        bool(current_app.config.get("HUMAN_AGENT_TAG_ENABLED")),
        getattr(conversation, "channel", None) or "messenger",
    )


def decide_messaging_type(
    conversation: Conversation, human_agent: bool, now: datetime | None = None
) -> tuple[str, str | None]:
    """Meta's rules: RESPONSE inside 24 h; else HUMAN_AGENT tag within 7 days if allowed."""
    now = now or utcnow()
    window = reply_window(conversation, now)
    if window.response_left is not None:
        return "RESPONSE", None
    reason = window_refusal(window, now)
    if reason:
        raise ReplyRefused(reason)
    if not human_agent and window.last_inbound_at is not None:
        raise ReplyRefused(refusals.needs_personal_confirmation(now - window.last_inbound_at, window.channel))
    return "MESSAGE_TAG", HUMAN_AGENT_TAG


def window_refusal(window: ReplyWindow, now: datetime | None = None) -> str | None:
    """Why Messenger allows no reply at all now (personal replies included), or None."""
    if window.response_left is not None:
        return None
    if window.last_inbound_at is None:
        return refusals.never_wrote(window.channel)
    age = (now or utcnow()) - window.last_inbound_at
    if window.human_agent_left is None or not window.human_agent_enabled:
        return refusals.window_closed(age, personal_replies=window.human_agent_enabled, channel=window.channel)
    return None


def reply_block(conversation: Conversation, window: ReplyWindow | None = None) -> str | None:
    """Why no reply can be sent in this conversation now (Send is disabled with it), or None."""
    reason = send_refusal(conversation.page, conversation.contact)
    if reason:
        return reason[0].upper() + reason[1:] + "."
    return window_refusal(window or reply_window(conversation))


def check_can_send(conversation: Conversation) -> None:
    """Page and contact preconditions for any outbound message (new reply or retry)."""
    reason = send_refusal(conversation.page, conversation.contact)
    if reason:
        raise ReplyRefused(reason)


def reply_text_limit(conversation: Conversation) -> int:
    """The longest reply the conversation's channel takes (Instagram 1,000, Messenger 2,000)."""
    return text_limit(conversation.channel)


def clean_text(text: Any, channel: str | None = None) -> str:
    """The reply's text as the channel (Messenger by default) will take it, or the reason it would not."""
    if not isinstance(text, str):
        raise ReplyRefused("the reply must be text")
    cleaned = text.strip()
    if not cleaned:
        raise ReplyRefused("the reply is empty")
    limit = text_limit(channel)
    if len(cleaned) > limit:
        raise ReplyRefused(
            f"the reply is {len(cleaned)} characters long; {label(channel)} allows at most {limit}", status=400
        )
    return cleaned


def queue_reply(
    conversation: Conversation, text: Any, human_agent: bool = False, author_id: int | None = None
) -> Message:
    """Validate, pick the messaging type, store the message as queued and enqueue its send."""
    text = clean_text(text, conversation.channel)
    check_can_send(conversation)
    messaging_type, tag = decide_messaging_type(conversation, bool(human_agent))
    message = add_reply(conversation, messaging_type, tag, author_id, text=text)
    db.session.commit()
    enqueue_send(message.id)
    return message


def add_reply(
    conversation: Conversation,
    messaging_type: str,
    tag: str | None,
    author_id: int | None,
    *,
    text: str | None,
    kind: str = "text",
    attachments: list[dict[str, Any]] | None = None,
) -> Message:
    """Add one checked reply as queued (audited, flushed, not committed): the caller commits
    and then enqueues, so a text and a file written together are queued together or not at all."""
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.OUT,
        author_id=author_id if author_id is not None else current_actor().id,
        text=text,
        attachments=attachments,
        kind=kind,
        status=MessageStatus.QUEUED,
        messaging_type=messaging_type,
        tag=tag,
        created_at=now,
    )
    db.session.add(message)
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    conversation.last_message_at = now
    conversation.unread_count = 0
    conversation.note_outbound()
    db.session.flush()
    record(
        "reply_queued",
        "message",
        message.id,
        {"conversation_id": conversation.id, "messaging_type": messaging_type, "tag": tag, "kind": kind},
    )
    return message


def retry_message(message: Message) -> Message:
    """An agent re-sends a failed outbound message (same rules as a new reply)."""
    if message.direction != Direction.OUT or message.status != MessageStatus.FAILED:
        raise ReplyRefused("only a failed outbound message can be retried")
    failure = failures.explain(message.error_code)
    if not failure.retryable:
        raise ReplyRefused(f"retrying cannot help: {failure.reason}")
    conversation = message.conversation
    check_can_send(conversation)
    messaging_type, tag = decide_messaging_type(conversation, human_agent=message.tag == HUMAN_AGENT_TAG)
    message.status = MessageStatus.QUEUED
    message.messaging_type = messaging_type
    message.tag = tag
    message.error_code = None
    message.error_message = None
    message.next_attempt_at = None
    message.attempts = 0
    record("reply_queued", "message", message.id, {"conversation_id": conversation.id, "retry": True})
    db.session.commit()
    enqueue_send(message.id)
    return message


# ---------------------------------------------------------------------------- assignment, status


def assignable_users(user_id: int | None = None) -> list[Any]:
    """Active staff who can reply (Admins, Support Managers, Agents), by username; only that
    user when `user_id` is given. A conversation assigned to a Privacy Officer could never be
    answered by its assignee."""
    query = select(User).where(
        User.active.is_(True),
        User.roles.any(Role.name.in_((ROLE_ADMIN, ROLE_SUPPORT_MANAGER, ROLE_AGENT))),
    )
    if user_id is not None:
        query = query.where(User.id == user_id)
    return list(db.session.scalars(query.order_by(User.username)))


def assign(conversation: Conversation, user_id: int | None) -> None:
    """Give the conversation to someone who can answer it (None: unassign); audited."""
    check_assignee(user_id)
    old = conversation.assignee_id
    if old == user_id:
        return
    conversation.assignee_id = user_id
    record("conversation_assigned", "conversation", conversation.id, {"assignee_id": [old, user_id]})
    db.session.commit()
    if user_id is not None and user_id != current_actor().id:
        _notify_assignee(conversation.id, user_id)


def set_status(conversation: Conversation, status: str) -> None:
    """Open, park (pending) or close a conversation; audited, unchanged status is a no-op."""
    if status not in CONVERSATION_STATUSES:
        raise ConversationError("status must be open, pending or closed")
    old = conversation.status
    if old == status:
        return
    conversation.status = status
    record("conversation_status_changed", "conversation", conversation.id, {"status": [old, status]})
    db.session.commit()
    if status == ConversationStatus.CLOSED:
        csat.request_survey(conversation)  # per-page setting; only inside the 24-hour window


def mark_read(conversation: Conversation, viewer_id: int | None = None) -> bool:
    """Opening the thread clears its unread badge for its assignee only (a manager looking at an
    agent's conversation leaves the agent's count alone); an unassigned conversation's count is
    the team's, cleared by whoever opens it. No commit when there is nothing to change.
    True when unread messages were cleared (the view then sends `mark_seen`)."""
    if viewer_id is not None and conversation.assignee_id not in (None, viewer_id):
        return False
    if not conversation.unread_count:
        return False
    conversation.unread_count = 0
    if conversation.assignee_id is not None:
        conversation.assignee_read_at = utcnow()
    db.session.commit()
    return True


# ---------------------------------------------------------------------------- reading


def thread_page(
    conversation: Conversation, before: tuple[datetime, int] | None = None, limit: int = THREAD_PAGE_SIZE
) -> tuple[list[Message], bool]:
    """One page of the thread, oldest first, ending before the (created_at, id) keyset cursor.
    Reactions are not rows of the thread: they are shown on the message they react to."""
    query = select(Message).where(Message.conversation_id == conversation.id, Message.kind != "reaction")
    if before is not None:
        at, mid = before
        query = query.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < mid)))
    rows = list(db.session.scalars(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)))
    has_older = len(rows) > limit
    return list(reversed(rows[:limit])), has_older


def messages_since(conversation: Conversation, since_id: int, limit: int = 200) -> list[Message]:
    """Messages from `since_id` on (the poller's view: new rows and changed ones), reactions
    excepted (a reaction changes its message, which the poller then sees changed)."""
    query = (
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.id >= since_id, Message.kind != "reaction")
        .order_by(Message.created_at, Message.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


INBOX_PAGE_SIZE = 50
INBOX_COUNT_CAP = 10_000  # counted exactly up to here, then shown as "10,000+"


@dataclass(frozen=True)
class InboxPage:
    """One page of the inbox and how many conversations match (``total`` stops at the cap)."""

    rows: list[Conversation]
    total: int
    capped: bool
    page: int
    per_page: int

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.last < self.total  # pages stop at the count's cap


def capped_count(query: Select[Any], cap: int) -> int:
    """Exact count reading at most ``cap`` index entries (so ``cap`` means "at least cap")."""
    sub = query.with_only_columns(Conversation.id).order_by(None).limit(cap).subquery()
    return int(db.session.execute(select(func.count()).select_from(sub)).scalar_one())


def inbox(
    status: str | None = ConversationStatus.OPEN,
    assignee: str | None = None,
    user_id: int | None = None,
    page_id: int | None = None,
    page: int = 1,
    per_page: int = INBOX_PAGE_SIZE,
    extra: ColumnElement[bool] | None = None,
    counter: Callable[[list[Select[Any]]], list[int]] | None = None,
) -> InboxPage:
    """Inbox rows: unassigned first, then longest waiting (oldest last message) first.

    Two segments (unassigned, then assigned), each read in ``(last_message_at, id)`` order with
    LIMIT/OFFSET, so the indexes on ``(status, last_message_at)`` and ``(last_message_at, id)``
    serve them; counts stop at INBOX_COUNT_CAP rows, and so do the pages.
    """
    query = select(Conversation)
    if extra is not None:  # the inbox queues' label/priority/channel filters
        query = query.where(extra)
    if status in CONVERSATION_STATUSES:
        query = query.where(Conversation.status == status)
    if page_id:
        query = query.where(Conversation.page_id == page_id)
    if assignee == "me" and user_id is not None:
        segments = [query.where(Conversation.assignee_id == user_id)]
    elif assignee == "none":
        segments = [query.where(Conversation.assignee_id.is_(None))]
    else:
        segments = [query.where(Conversation.assignee_id.is_(None)), query.where(Conversation.assignee_id.is_not(None))]
    if counter is None:
        counts = [capped_count(segment, INBOX_COUNT_CAP + 1) for segment in segments]
    else:  # the inbox queues count through their short-lived cache (queue_counts)
        counts = counter(segments)
    total = min(sum(counts), INBOX_COUNT_CAP)
    capped = sum(counts) > INBOX_COUNT_CAP
    page = max(1, min(page, max(1, -(-total // per_page))))
    skip, rows = (page - 1) * per_page, list[Conversation]()
    for segment, count in zip(segments, counts, strict=True):
        if skip >= count:
            skip -= count
            continue
        ordered = segment.order_by(Conversation.last_message_at.asc(), Conversation.id.asc())
        rows += db.session.scalars(ordered.offset(skip).limit(per_page - len(rows))).unique()
        skip = 0
        if len(rows) >= per_page:
            break
    return InboxPage(rows=list(rows), total=total, capped=capped, page=page, per_page=per_page)


def waiting_since(conversation: Conversation) -> datetime | None:
    """The contact is waiting when their last message is newer than our last reply."""
    return waiting_since_many([conversation])[conversation.id]


def waiting_since_many(conversations: list[Conversation]) -> dict[int, datetime | None]:
    """`waiting_since` for a whole inbox page in one grouped query (no query per row)."""
    ids = [c.id for c in conversations]
    last_out: dict[int, datetime] = {}
    if ids:
        rows = db.session.execute(
            select(Message.conversation_id, func.max(Message.created_at))
            .where(Message.conversation_id.in_(ids), Message.direction == Direction.OUT)
            .group_by(Message.conversation_id)
        )
        last_out = {conv_id: at for conv_id, at in rows}
    result: dict[int, datetime | None] = {}
    for conv in conversations:
        last_in = last_inbound_at(conv)
        out = last_out.get(conv.id)
        result[conv.id] = None if last_in is None or (out is not None and out >= last_in) else last_in
    return result


def safe_url(url: Any) -> str | None:
    """Only http(s) links reach the page (no javascript:, data:, ...)."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


def attachment_links(message: Message) -> list[dict[str, str]]:
    """The message's attachments as safe links only (stored payloads are untrusted input)."""
    out = []
    items = message.attachments if isinstance(message.attachments, list) else []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = safe_url(item.get("url") or (item.get("payload") or {}).get("url"))
        kind = str(item.get("type") or "file")[:32]
        if url:
            out.append({"type": kind, "url": url})
    return out


def message_dict(message: Message) -> dict[str, Any]:
    """The poller's JSON for one message (text rendered client-side with textContent)."""
    return {
        "id": message.id,
        "direction": message.direction,
        "kind": message.kind,
        "text": message.text,
        "status": message.status,
        "error_code": message.error_code,
        "error_message": message.error_message,
        **failure_fields(message),
        "tag": message.tag,
        "author": message.author.username if message.author else None,
        "created_at": message.created_at.isoformat() + "Z" if message.created_at else None,
        "attachments": attachment_links(message),
    }


def failure_fields(message: Message) -> dict[str, Any]:
    """The agent's reason for a failed or delayed send and whether Retry helps (view and poller)."""
    if message.direction != Direction.OUT or not message.error_code:
        return {"failure_reason": None, "retryable": False}
    if message.status == MessageStatus.FAILED:
        failure = failures.explain(message.error_code)
        return {"failure_reason": failure.reason, "retryable": failure.retryable}
    return {"failure_reason": failures.explain_delay(message.error_code), "retryable": False}


def conversation_id_of(contact_id: int) -> int | None:
    """The contact's newest conversation (one per contact and page), or None."""
    query = (
        select(Conversation.id)
        .where(Conversation.contact_id == contact_id)
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    return db.session.scalar(query)
