"""Demo data for the agent workspace, relative to now (called from demo.seed).

Reply windows: a few conversations close within the hour, many are open, some are in the
HUMAN_AGENT range (1-7 days), the rest closed long ago. Plus: a failed send with its reason,
pending privacy requests (one due in 3 days, one overdue), CSAT ratings for the dashboard,
demo staff online, and "Acme Bikes" with round-robin auto-assignment and the CSAT survey on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from app import appbuilder, db
from app.contacts.models import Contact
from app.conversations import availability
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.pages.models import AutoAssign, Page
from app.privacy.requests import create_request

CLOSING, FRESH, HUMAN_AGENT, OLD = "closing", "fresh", "human_agent", "old"
NEEDS_REPLY = frozenset({CLOSING, FRESH})
CLOSING_COUNT = 4  # conversations whose 24-hour window ends within the hour
ONLINE_USERS = ("manager", "agent", "agent2")


def bucket_for(index: int, rng: random.Random) -> str:
    """Which reply-window situation the index-th demo conversation is in."""
    if index < CLOSING_COUNT:
        return CLOSING
    return rng.choices([FRESH, HUMAN_AGENT, OLD], [35, 20, 45])[0]


def status_for(bucket: str, rng: random.Random) -> str:
    if bucket == OLD:
        return rng.choices(["closed", "open", "pending"], [7, 2, 1])[0]
    return rng.choices(["open", "pending"], [9, 1])[0]


def last_message_age(bucket: str, rng: random.Random) -> timedelta:
    """How long ago the conversation's last message was written."""
    if bucket == CLOSING:
        return timedelta(hours=23, minutes=rng.randint(5, 50))
    if bucket == FRESH:
        return timedelta(minutes=rng.randint(5, 20 * 60))
    if bucket == HUMAN_AGENT:
        return timedelta(hours=rng.randint(26, 6 * 24))
    return timedelta(days=rng.randint(8, 60), minutes=rng.randint(0, 1440))


def seed_settings(pages: list[Page], progress: Callable[[str], None]) -> None:
    """Every run: the first demo page auto-assigns (round robin) and asks for CSAT; the demo
    manager and agents are online."""
    if pages:
        pages[0].auto_assign = AutoAssign.ROUND_ROBIN.value
        pages[0].csat_enabled = True
    for username in ONLINE_USERS:
        user = appbuilder.sm.find_user(username=username)
        if user is not None:
            availability.do_update(user.id, {"availability": availability.Availability.ONLINE.value}, commit=False)
    db.session.commit()
    progress(f"workspace: {pages[0].name if pages else '-'} auto-assigns round robin with CSAT; staff online")


def _failed_send() -> None:
    """One reply Meta refused, with its reason, on the most recent open conversation."""
    conv = db.session.scalar(
        select(Conversation).where(Conversation.status == "open").order_by(Conversation.last_message_at.desc())
    )
    if conv is None:
        return
    agent = appbuilder.sm.find_user(username="agent")
    at = utcnow() - timedelta(minutes=3)
    db.session.add(
        Message(
            conversation_id=conv.id,
            direction="out",
            text="Your order has shipped, here is the tracking link.",
            kind="text",
            status="failed",
            messaging_type="RESPONSE",
            author_id=agent.id if agent else None,
            created_at=at,
            attempts=1,
            error_code="551",
            error_message="(#551) This person isn't available right now.",
        )
    )


def _privacy_requests() -> None:
    """Three pending requests for the Privacy Officer: one due in 3 days, one overdue, and a
    correction asked for with a tap in Messenger, whose fields the officer records."""
    contacts = list(db.session.scalars(select(Contact).order_by(Contact.id).limit(3)))
    manager = appbuilder.sm.find_user(username="manager")
    agent = appbuilder.sm.find_user(username="agent")
    if len(contacts) < 3:
        return
    now = utcnow()
    soon = create_request("access", contacts[0], requested_by_id=manager.id if manager else None, commit=False)
    soon.received_at, soon.due_at = now - timedelta(days=27), now + timedelta(days=3)
    late = create_request("erasure", contacts[1], requested_by_id=agent.id if agent else None, commit=False)
    late.received_at, late.due_at = now - timedelta(days=33), now - timedelta(days=2)
    tapped = create_request("rectification", contacts[2], source="messenger", commit=False)
    tapped.received_at, tapped.due_at = now - timedelta(days=1), now + timedelta(days=29)


def _csat_ratings(rng: random.Random) -> None:
    """Ratings on recently closed conversations, so the dashboard's CSAT charts have data."""
    since = utcnow() - timedelta(days=29)
    staff = [u.id for name in ONLINE_USERS if (u := appbuilder.sm.find_user(username=name)) is not None]
    closed = db.session.scalars(
        select(Conversation).where(Conversation.status == "closed", Conversation.last_message_at >= since).limit(60)
    )
    for conv in closed:
        if conv.last_message_at is None or not staff:
            continue
        conv.assignee_id = conv.assignee_id or rng.choice(staff)
        conv.csat_requested_at = conv.last_message_at
        conv.csat_answered_at = conv.last_message_at + timedelta(minutes=rng.randint(1, 90))
        conv.csat_score = rng.choices([1, 2, 3, 4, 5], [1, 1, 3, 6, 8])[0]


def seed_extras(rng: random.Random, progress: Callable[[str], None]) -> None:
    """Once, with the demo conversations: a failed send, privacy requests, CSAT ratings."""
    _failed_send()
    _privacy_requests()
    _csat_ratings(rng)
    db.session.commit()
    progress("workspace: a failed send, 2 pending privacy requests (due in 3 days, overdue), CSAT ratings")
