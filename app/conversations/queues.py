"""The inbox queues: Needs reply, Mine, Unassigned, Window closed, All (DESIGN.md "Agent workspace").

Every queue is one indexed range read in a fixed order, with LIMIT/OFFSET paging and counts
that stop at a cap and are cached a moment in Redis (queue_counts: at most 2 s, dropped on any
commit that changes a queue), so the inbox stays fast at 1 M conversations:

- needs_reply: the last message is the contact's (`awaiting_reply`) and the window is open
  (`window_expires_at > now`), not closed; soonest window end first. Index
  (awaiting_reply, window_expires_at, id).
- mine / unassigned: that assignee, the status filter (default open); longest waiting first.
  Index (assignee_id, status, last_message_at, id).
- window_closed: the status filter, `window_expires_at <= now`; most recently closed first
  (those are still answerable with HUMAN_AGENT for 7 days). Index (status, window_expires_at, id).
- all: the status filter; unassigned first, then longest waiting (app.conversations.services.inbox).

`window_expires_at` is written by the webhook path when an inbound message is applied
(Conversation.note_inbound); nothing is computed per row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from app import db
from app.conversations import queue_counts, services
from app.conversations.labels import LABEL_RE, PRIORITIES
from app.conversations.models import (
    CONVERSATION_STATUSES,
    HUMAN_AGENT_SPAN,
    REPLY_WINDOW,
    Conversation,
    ConversationLabel,
    ConversationStatus,
)
from app.core.models import utcnow

QUEUES: dict[str, str] = {
    "needs_reply": "Needs reply",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "window_closed": "Window closed",
    "all": "All",
}
DEFAULT_QUEUE = "needs_reply"
CHANNELS = ("messenger", "instagram")
TAB_COUNT_CAP = 1000  # each tab's badge counts up to here, then shows "1,000+"
URGENT_LEFT_SECONDS = 2 * 3600  # a row's time left is coloured below two hours


@dataclass(frozen=True)
class Filters:
    """What the inbox URL asks for (unknown values fall back to the defaults, never a 500)."""

    queue: str = DEFAULT_QUEUE
    status: str = ConversationStatus.OPEN.value
    label: str | None = None
    priority: str | None = None
    page_id: int | None = None
    channel: str | None = None
    page: int = 1

    def args(self, **overrides: Any) -> dict[str, Any]:
        """URL arguments that reproduce these filters (defaults left out)."""
        args: dict[str, Any] = {"queue": self.queue}
        if overrides.get("queue", self.queue) != "needs_reply":  # needs reply ignores the status filter (not closed)
            args["status"] = self.status
        for key, value in (("label", self.label), ("priority", self.priority), ("page", self.page_id)):
            if value:
                args[key] = value
        if self.channel:
            args["channel"] = self.channel
        args.update(overrides)
        return {k: v for k, v in args.items() if v is not None}


def _int(raw: str | None) -> int | None:
    try:
        value = int(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and 0 < value < 2**31 else None


def parse_filters(args: Mapping[str, str]) -> Filters:
    """Read the inbox URL. Without `queue`, the old `status`/`assignee` links still work:
    `assignee=me` → Mine, `assignee=none` → Unassigned, a status alone → All with that status."""
    queue = args.get("queue") or ""
    if queue not in QUEUES:
        assignee = args.get("assignee")
        if assignee == "me":
            queue = "mine"
        elif assignee == "none":
            queue = "unassigned"
        elif args.get("status"):
            queue = "all"
        else:
            queue = DEFAULT_QUEUE
    status = args.get("status") or ConversationStatus.OPEN.value
    if status not in (*CONVERSATION_STATUSES, "all"):
        status = ConversationStatus.OPEN.value
    label = " ".join((args.get("label") or "").split()).lower() or None
    if label is not None and (len(label) > 32 or not LABEL_RE.match(label)):
        label = None
    priority = args.get("priority") if args.get("priority") in PRIORITIES else None
    channel = args.get("channel") if args.get("channel") in CHANNELS else None
    page = _int(args.get("p")) or 1
    return Filters(queue, status, label, priority, _int(args.get("page")), channel, page)


def _filtered(filters: Filters) -> Select[Any]:
    """Label, priority, page and channel: the same for every queue."""
    query = select(Conversation)
    if filters.label:
        labelled = select(ConversationLabel.conversation_id).where(ConversationLabel.label == filters.label)
        query = query.where(Conversation.id.in_(labelled))
    if filters.priority:
        query = query.where(Conversation.priority == filters.priority)
    if filters.page_id:
        query = query.where(Conversation.page_id == filters.page_id)
    if filters.channel:
        query = query.where(Conversation.channel == filters.channel)
    return query


def _status_clause(filters: Filters) -> list[ColumnElement[bool]]:
    return [Conversation.status == filters.status] if filters.status in CONVERSATION_STATUSES else []


def _queue_query(queue: str, filters: Filters, user_id: int | None, now: datetime) -> Select[Any]:
    """The queue's rows in its display order (for mine/unassigned/all see `listing`)."""
    query = _filtered(filters)
    if queue == "needs_reply":
        return query.where(
            Conversation.awaiting_reply.is_(True),
            Conversation.window_expires_at > now,
            Conversation.status != ConversationStatus.CLOSED.value,
        ).order_by(Conversation.window_expires_at.asc(), Conversation.id.asc())
    if queue == "window_closed":
        return query.where(*_status_clause(filters), Conversation.window_expires_at <= now).order_by(
            Conversation.window_expires_at.desc(), Conversation.id.desc()
        )
    query = query.where(*_status_clause(filters))
    if queue == "mine":
        query = query.where(Conversation.assignee_id == (user_id or -1))
    elif queue == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None))
    return query.order_by(Conversation.last_message_at.asc(), Conversation.id.asc())


def _count_key(name: str, filters: Filters, user_id: int | None, cap: int) -> str:
    """The cache key of one count: the queue, the cap and every filter it depends on."""
    user = user_id if name == "mine" else ""
    parts = (name, cap, filters.status, filters.label, filters.priority, filters.page_id, filters.channel, user)
    return ":".join("" if part is None else str(part) for part in parts)


def _counter(query: Select[Any], cap: int) -> Callable[[], int]:
    return lambda: services.capped_count(query, cap)


def _one_count(query: Select[Any], key: str, cap: int) -> int:
    return queue_counts.counts({"n": (key, _counter(query, cap))})["n"]


def _count_query(queue: str, filters: Filters, user_id: int | None, now: datetime) -> Select[Any]:
    if queue == "all":
        return _filtered(filters).where(*_status_clause(filters))
    return _queue_query(queue, filters, user_id, now)


def _segment_counter(filters: Filters) -> Callable[[list[Select[Any]]], list[int]]:
    """The "all" queue's segment counts (unassigned, then assigned), cached like the tabs."""

    def count(segments: list[Select[Any]]) -> list[int]:
        cap = services.INBOX_COUNT_CAP + 1
        specs = {
            str(i): (_count_key(f"all-{i}-of-{len(segments)}", filters, None, cap), _counter(segment, cap))
            for i, segment in enumerate(segments)
        }
        got = queue_counts.counts(specs)
        return [got[str(i)] for i in range(len(segments))]

    return count


def listing(filters: Filters, user_id: int | None, per_page: int = services.INBOX_PAGE_SIZE) -> services.InboxPage:
    """One page of the chosen queue, with its (capped, briefly cached) count.

    The count is the tab's count when that is below its cap (same query, same cache key), so a
    page usually costs no count of its own; an empty queue costs no row query either.
    """
    now = utcnow()
    if filters.queue == "all":
        return services.inbox(
            status=filters.status,
            page=filters.page,
            per_page=per_page,
            extra=_filtered(filters).whereclause,
            counter=_segment_counter(filters),
        )
    query = _queue_query(filters.queue, filters, user_id, now)
    count = _one_count(query, _count_key(filters.queue, filters, user_id, TAB_COUNT_CAP + 1), TAB_COUNT_CAP + 1)
    if count > TAB_COUNT_CAP:
        cap = services.INBOX_COUNT_CAP + 1
        count = _one_count(query, _count_key(filters.queue, filters, user_id, cap), cap)
    total = min(count, services.INBOX_COUNT_CAP)
    page = max(1, min(filters.page, max(1, -(-total // per_page))))
    rows: list[Conversation] = []
    if total:
        rows = list(db.session.scalars(query.offset((page - 1) * per_page).limit(per_page)).unique())
    capped = count > services.INBOX_COUNT_CAP
    return services.InboxPage(rows=rows, total=total, capped=capped, page=page, per_page=per_page)


def tab_counts(filters: Filters, user_id: int | None) -> dict[str, tuple[int, bool]]:
    """Each queue's count with the current filters: (count, capped), cached a moment (queue_counts)."""
    now = utcnow()
    cap = TAB_COUNT_CAP + 1
    specs = {
        queue: (_count_key(queue, filters, user_id, cap), _counter(_count_query(queue, filters, user_id, now), cap))
        for queue in QUEUES
    }
    return {queue: (min(n, TAB_COUNT_CAP), n > TAB_COUNT_CAP) for queue, n in queue_counts.counts(specs).items()}


def next_in_queue(filters: Filters, user_id: int | None, after: int) -> Conversation | None:
    """The conversation to open after closing `after`: the first of the queue that is not it."""
    first_page = replace(filters, page=1)
    for conv in listing(first_page, user_id, per_page=5).rows:
        if conv.id != after and conv.status != ConversationStatus.CLOSED.value:
            return conv
    return None


@dataclass(frozen=True)
class WindowInfo:
    """What a row says about the reply window."""

    text: str
    css: str  # bootstrap label class
    urgent: bool


def window_info(conv: Conversation, now: datetime, human_delta: Any) -> WindowInfo:
    """'3 h 12 min left' (red below two hours), 'HUMAN_AGENT · 5 d 2 h left', or 'no reply possible'."""
    end = conv.window_expires_at
    if end is None:
        return WindowInfo("—", "default", False)
    if end > now:
        left = end - now
        urgent = left.total_seconds() < URGENT_LEFT_SECONDS
        return WindowInfo(f"{human_delta(left)} left", "danger" if urgent else "success", urgent)
    human_end = end - REPLY_WINDOW + HUMAN_AGENT_SPAN
    if human_end > now:
        return WindowInfo(f"closed · HUMAN_AGENT {human_delta(human_end - now)} left", "warning", False)
    return WindowInfo("closed · no reply possible", "default", False)
