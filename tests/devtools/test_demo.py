"""`flask omnicrm demo` seeds relative to now: windows open/closing/HUMAN_AGENT/closed, a failed
send, pending privacy requests (one rectification without its fields), CSAT ratings, staff
online, a page that auto-assigns."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app import db
from app.conversations import availability
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.devtools import demo
from app.pages.models import Page
from app.privacy.models import PrivacyRequest
from tests.helpers import uid


def _count(*where) -> int:
    return int(db.session.scalar(select(func.count()).select_from(Conversation).where(*where)))


def test_demo_seeds_a_workspace_relative_to_now():
    demo.seed(contacts=60, progress=lambda _msg: None)
    now = utcnow()
    day, week = timedelta(hours=24), timedelta(days=7)
    closing = _count(
        Conversation.status == "open",
        Conversation.last_inbound_at > now - day,
        Conversation.last_inbound_at < now - day + timedelta(hours=1),
    )
    assert closing >= 2
    assert _count(Conversation.last_inbound_at > now - day, Conversation.status != "closed") >= 10
    assert _count(Conversation.last_inbound_at < now - day, Conversation.last_inbound_at > now - week) >= 3
    assert _count(Conversation.status == "closed") >= 3
    failed = db.session.scalars(select(Message).where(Message.status == "failed")).all()
    assert [m.error_message for m in failed] == ["(#551) This person isn't available right now."]
    pending = db.session.scalars(select(PrivacyRequest).where(PrivacyRequest.status == "pending")).all()
    dues = sorted(r.due_at - now for r in pending)
    assert len(dues) == 3
    assert dues[0] < timedelta(0)
    assert timedelta(days=2) < dues[1] <= timedelta(days=3)
    [tapped] = [r for r in pending if r.request_type == "rectification"]
    assert (tapped.source, tapped.details) == ("messenger", None)  # the officer records the fields
    assert _count(Conversation.csat_score.is_not(None)) >= 1
    assert availability.get(uid("agent")).availability == "online"
    bikes = db.session.scalar(select(Page).where(Page.name == "Acme Bikes"))
    assert (bikes.auto_assign, bikes.csat_enabled) == ("round_robin", True)
    # a second run reuses everything
    demo.seed(contacts=60, progress=lambda _msg: None)
    assert db.session.scalar(select(func.count()).select_from(PrivacyRequest)) == 3
