"""Numbers for the dashboard and /metrics.

Every aggregate runs in SQL and is bounded (last N days, LIMIT n) so the home page stays fast
on big tables: the per-day series range-scan `ix_message_created`, the conversation lists use
`ix_conversation_status_last`, the privacy lists `ix_privacy_request_status_due`.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from app import db
from app.conversations.models import Conversation, ConversationStatus, Direction, Message, MessageStatus
from app.core.models import utcnow
from app.dashboard import team
from app.pages.models import Page
from app.privacy.models import REQUEST_STATUSES, PrivacyRequest
from app.webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

DAYS = 30
LIST_LIMIT = 10
CLOSED_PRIVACY_STATUSES = ("complete", "denied", "canceled")


def _dialect() -> str:
    return str(db.engine.dialect.name)


def _day(col: Any) -> ColumnElement[Any]:
    """Calendar day of a timestamp; `date()` exists on both SQLite (text) and PostgreSQL (date)."""
    return func.date(col)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _seconds_between(later: Any, earlier: Any) -> ColumnElement[Any]:
    if _dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def day_range(days: int = DAYS, now: datetime | None = None) -> list[date]:
    """The last `days` calendar days, oldest first, today included."""
    today = (now or utcnow()).date()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def _since(days: int, now: datetime | None) -> datetime:
    start = day_range(days, now)[0]
    return datetime(start.year, start.month, start.day)


# -- conversations -------------------------------------------------------------------------


def conversation_counts(user_id: int | None = None) -> dict[str, int]:
    """Open, unassigned and (for an agent) my open conversations."""
    open_q = select(func.count()).select_from(Conversation).where(Conversation.status == ConversationStatus.OPEN)
    counts = {
        "open": db.session.scalar(open_q) or 0,
        "unassigned": db.session.scalar(open_q.where(Conversation.assignee_id.is_(None))) or 0,
    }
    if user_id is not None:
        counts["mine"] = db.session.scalar(open_q.where(Conversation.assignee_id == user_id)) or 0
    return counts


def waiting_longest(limit: int = LIST_LIMIT, now: datetime | None = None) -> list[dict[str, Any]]:
    """Open conversations whose last message is the contact's and that can still be answered
    (within 24 hours, or 7 days with the HUMAN_AGENT tag), oldest first."""
    now = now or utcnow()
    rows = db.session.scalars(
        select(Conversation)
        .where(*team.answerable_waiting_filter(now))
        .order_by(Conversation.last_message_at.asc(), Conversation.id.asc())
        .limit(limit)
    ).all()
    return [
        {
            "id": conv.id,
            "contact": conv.contact.display_name if conv.contact else f"#{conv.id}",
            "page": conv.page.name if conv.page else "",
            "assignee": conv.assignee.username if conv.assignee else None,
            "waiting": humanize_age(now - conv.last_inbound_at),
        }
        for conv in rows
    ]


def humanize_age(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


# -- messages ------------------------------------------------------------------------------


def messages_per_day(days: int = DAYS, now: datetime | None = None) -> dict[str, list[Any]]:
    """Inbound and outbound message counts per calendar day, zero-filled."""
    since = _since(days, now)
    day = _day(Message.created_at).label("day")
    rows = db.session.execute(
        select(day, Message.direction, func.count()).where(Message.created_at >= since).group_by(day, Message.direction)
    ).all()
    series: dict[str, dict[date, int]] = {Direction.IN: {}, Direction.OUT: {}}
    for raw_day, direction, count in rows:
        if direction in series:
            series[direction][_as_date(raw_day)] = int(count)
    labels = day_range(days, now)
    return {
        "days": labels,
        "in": [series[Direction.IN].get(d, 0) for d in labels],
        "out": [series[Direction.OUT].get(d, 0) for d in labels],
    }


def median_first_response_per_day(days: int = DAYS, now: datetime | None = None) -> dict[str, list[Any]]:
    """Median minutes from a conversation's first inbound message to its first reply, per day.

    The day is the day of the first reply. PostgreSQL computes the median itself
    (`percentile_cont`); SQLite has no median, so it returns the per-conversation delays
    (one row per answered conversation in the window) and Python takes the median.
    """
    since = _since(days, now)
    # first inbound message per answered conversation: a correlated LIMIT 1 that walks
    # ix_message_conversation_created from the oldest row and stops at the first inbound one
    first_in = (
        select(Message.created_at)
        .where(Message.conversation_id == Conversation.id, Message.direction == Direction.IN)
        .order_by(Message.created_at.asc())
        .limit(1)
        .scalar_subquery()
    )
    answered = (
        select(
            _day(Conversation.first_response_at).label("day"),
            _seconds_between(Conversation.first_response_at, first_in).label("delay"),
        )
        .where(Conversation.first_response_at >= since)
        .subquery()
    )
    valid = answered.c.delay >= 0  # NULL (no inbound message) and clock skew drop out
    medians: dict[date, float] = {}
    if _dialect() == "postgresql":
        median = func.percentile_cont(0.5).within_group(cast(answered.c.delay, Float))
        rows = db.session.execute(select(answered.c.day, median).where(valid).group_by(answered.c.day)).all()
        medians = {_as_date(d): float(m) for d, m in rows if m is not None}
    else:
        rows = db.session.execute(select(answered.c.day, answered.c.delay).where(valid)).all()
        per_day: dict[date, list[float]] = {}
        for d, seconds in rows:
            per_day.setdefault(_as_date(d), []).append(float(seconds))
        medians = {d: statistics.median(values) for d, values in per_day.items()}
    labels = day_range(days, now)
    return {
        "days": labels,
        "minutes": [round(medians[d] / 60.0, 1) if d in medians else None for d in labels],
    }


def failed_sends(days: int = DAYS, limit: int = LIST_LIMIT, now: datetime | None = None) -> dict[str, Any]:
    """Outbound messages that failed in the window: a count and the latest few (no text)."""
    since = _since(days, now)
    where = and_(
        Message.status == MessageStatus.FAILED, Message.direction == Direction.OUT, Message.created_at >= since
    )
    count = db.session.scalar(select(func.count()).select_from(Message).where(where)) or 0
    rows = db.session.execute(
        select(Message.id, Message.conversation_id, Message.created_at, Message.error_code, Message.error_message)
        .where(where)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    ).all()
    return {
        "count": count,
        "latest": [
            {
                "id": r.id,
                "conversation_id": r.conversation_id,
                "created_at": r.created_at,
                "error_code": r.error_code,
                "error_message": r.error_message,
            }
            for r in rows
        ],
    }


# -- pages, webhooks -----------------------------------------------------------------------


def pages_needing_reauth() -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Page.id, Page.name, Page.reauth_reason).where(Page.needs_reauth.is_(True)).order_by(Page.name)
    ).all()
    return [{"id": r.id, "name": r.name, "reason": r.reauth_reason} for r in rows]


def webhook_health(now: datetime | None = None) -> dict[str, Any]:
    """Events in error and the age of the oldest still-pending event (processing lag)."""
    now = now or utcnow()
    errors = db.session.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.status == "error"))
    oldest = db.session.scalar(select(func.min(WebhookEvent.received_at)).where(WebhookEvent.status == "pending"))
    lag = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    return {"errors": errors or 0, "lag_seconds": lag}


# -- privacy -------------------------------------------------------------------------------


def privacy_by_status() -> dict[str, int]:
    rows = db.session.execute(select(PrivacyRequest.status, func.count()).group_by(PrivacyRequest.status)).all()
    counts = dict.fromkeys(REQUEST_STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def privacy_overdue(limit: int = LIST_LIMIT, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    where = and_(PrivacyRequest.due_at < now, PrivacyRequest.status.not_in(CLOSED_PRIVACY_STATUSES))
    count = db.session.scalar(select(func.count()).select_from(PrivacyRequest).where(where)) or 0
    rows = db.session.execute(
        select(PrivacyRequest.id, PrivacyRequest.request_type, PrivacyRequest.status, PrivacyRequest.due_at)
        .where(where)
        .order_by(PrivacyRequest.due_at.asc())
        .limit(limit)
    ).all()
    return {
        "count": count,
        "latest": [
            {
                "id": r.id,
                "request_type": r.request_type,
                "status": r.status,
                "days_overdue": (now - r.due_at).days,
            }
            for r in rows
        ],
    }


def sends_by_status() -> dict[str, int]:
    """Outbound messages per status (queued, sending, sent, ... failed) for the Admins' panel."""
    rows = db.session.execute(
        select(Message.status, func.count()).where(Message.direction == Direction.OUT).group_by(Message.status)
    ).all()
    return {status: int(n) for status, n in rows}


# -- the page ------------------------------------------------------------------------------


@dataclass
class Panels:
    """Which panels a user may see, from their permissions (not role names)."""

    conversations: bool = False
    messages: bool = False
    pages: bool = False
    webhooks: bool = False
    privacy: bool = False
    queues: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def build(
    *,
    conversations: bool,
    messages: bool,
    pages: bool,
    webhooks: bool,
    privacy: bool,
    queues: bool = False,
    user_id: int | None = None,
    now: datetime | None = None,
    team_panel: bool = False,
) -> Panels:
    """Compute only the panels the user is allowed to see."""
    panels = Panels(conversations, messages, pages, webhooks, privacy, queues)
    data = panels.data
    if conversations:
        data["counts"] = conversation_counts(user_id)
        data["waiting"] = waiting_longest(now=now)
    if team_panel:
        data["team"] = team.build(now)
    if messages:
        data["volume"] = messages_per_day(now=now)
        data["response"] = median_first_response_per_day(now=now)
        data["failed"] = failed_sends(now=now)
    if pages:
        data["reauth"] = pages_needing_reauth()
    if webhooks:
        data["webhooks"] = webhook_health(now=now)
    if privacy:
        data["privacy_status"] = privacy_by_status()
        data["privacy_overdue"] = privacy_overdue(now=now)
    return panels


def summary() -> dict[str, int]:
    """Kept for callers of the first version: open and unassigned counts."""
    return conversation_counts()
