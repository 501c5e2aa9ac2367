"""The Support Manager's view of the team: per-agent times, counts linking to the inbox, and a
waiting list without conversations nobody can answer any more.

First response: from a conversation's first inbound message to its first reply. Resolution:
from the conversation's start to its last message, for conversations now closed whose last
message is in the period (there is no closed-at column; the last message is when the work
ended). Both over the last DAYS days, medians in hours, computed over at most ROW_CAP rows.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select

from app import db
from app.conversations.models import Conversation, ConversationStatus, Direction, Message
from app.core.models import utcnow

DAYS = 30
ROW_CAP = 50_000
LIST_LIMIT = 10
RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


@dataclass
class AgentStats:
    user_id: int | None
    name: str
    open: int = 0
    answered: int = 0
    first_response_hours: float | None = None
    resolved: int = 0
    resolution_hours: float | None = None


def answerable_since(now: datetime | None = None) -> datetime:
    """Oldest last-inbound time someone can still answer: 24 h, or 7 days with the HUMAN_AGENT tag."""
    window = HUMAN_AGENT_WINDOW if current_app.config.get("HUMAN_AGENT_TAG_ENABLED") else RESPONSE_WINDOW
    return (now or utcnow()) - window


def _median_hours(values: list[float]) -> float | None:
    return round(statistics.median(values) / 3600.0, 1) if values else None


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    seconds = (later - earlier).total_seconds()
    return seconds if seconds >= 0 else None


def per_agent(now: datetime | None = None, days: int = DAYS) -> list[AgentStats]:
    """One row per assignee (and "unassigned"): open count, median first-response and resolution."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    names = dict(db.session.execute(select(User.id, User.username)).all())
    stats: dict[int | None, AgentStats] = {}

    def row(user_id: int | None) -> AgentStats:
        if user_id not in stats:
            stats[user_id] = AgentStats(user_id, names.get(user_id, "unassigned") if user_id else "unassigned")
        return stats[user_id]

    open_counts = db.session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.status == ConversationStatus.OPEN)
        .group_by(Conversation.assignee_id)
    ).all()
    for user_id, count in open_counts:
        row(user_id).open = int(count)

    first_in = (
        select(func.min(Message.created_at))
        .where(Message.conversation_id == Conversation.id, Message.direction == Direction.IN)
        .scalar_subquery()
    )
    answered = db.session.execute(
        select(Conversation.assignee_id, Conversation.first_response_at, first_in)
        .where(Conversation.first_response_at >= since)
        .limit(ROW_CAP)
    ).all()
    delays: dict[int | None, list[float]] = {}
    for user_id, responded, first in answered:
        seconds = _seconds(responded, first)
        if seconds is not None:
            delays.setdefault(user_id, []).append(seconds)
    for user_id, values in delays.items():
        row(user_id).answered = len(values)
        row(user_id).first_response_hours = _median_hours(values)

    closed = db.session.execute(
        select(Conversation.assignee_id, Conversation.created_at, Conversation.last_message_at)
        .where(Conversation.status == ConversationStatus.CLOSED, Conversation.last_message_at >= since)
        .limit(ROW_CAP)
    ).all()
    durations: dict[int | None, list[float]] = {}
    for user_id, created, last in closed:
        seconds = _seconds(last, created)
        if seconds is not None:
            durations.setdefault(user_id, []).append(seconds)
    for user_id, values in durations.items():
        row(user_id).resolved = len(values)
        row(user_id).resolution_hours = _median_hours(values)
    return sorted(stats.values(), key=lambda s: (s.user_id is None, s.name.lower()))


def answerable_waiting_filter(now: datetime | None = None) -> list[Any]:
    """SQL conditions: open, the contact wrote last, and a reply is still possible."""
    return [
        Conversation.status == ConversationStatus.OPEN,
        Conversation.last_inbound_at.is_not(None),
        Conversation.last_inbound_at >= Conversation.last_message_at,
        Conversation.last_inbound_at >= answerable_since(now),
    ]


def counts(now: datetime | None = None) -> dict[str, int]:
    """Open, unassigned and waiting-and-answerable conversations (each links to the inbox)."""
    open_q = select(func.count()).select_from(Conversation).where(Conversation.status == ConversationStatus.OPEN)
    waiting_q = select(func.count()).select_from(Conversation).where(*answerable_waiting_filter(now))
    return {
        "open": db.session.scalar(open_q) or 0,
        "unassigned": db.session.scalar(open_q.where(Conversation.assignee_id.is_(None))) or 0,
        "waiting": db.session.scalar(waiting_q) or 0,
        "unanswerable": db.session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.status == ConversationStatus.OPEN,
                Conversation.last_inbound_at.is_not(None),
                Conversation.last_inbound_at >= Conversation.last_message_at,
                Conversation.last_inbound_at < answerable_since(now),
            )
        )
        or 0,
    }


def build(now: datetime | None = None) -> dict[str, Any]:
    return {"agents": per_agent(now), "counts": counts(now)}
