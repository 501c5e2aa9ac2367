"""The demo seeds canned replies and notes, one mentioning the demo agent; twice is harmless."""

from __future__ import annotations

from sqlalchemy import func, select

from app import db
from app.conversations.workspace_models import CannedReply, ConversationNote
from app.devtools.demo_workspace import CANNED_REPLIES, seed_workspace
from app.notifications.models import Notification
from tests.helpers import uid


def test_demo_workspace_seeds_once(conversation):
    lines: list[str] = []
    seed_workspace(lines.append)
    seed_workspace(lines.append)
    assert db.session.scalar(select(func.count(CannedReply.id))) == len(CANNED_REPLIES)
    assert db.session.scalar(select(func.count(ConversationNote.id))) == 1
    [mention] = db.session.scalars(select(Notification).where(Notification.user_id == uid("agent")))
    assert mention.kind == "mention"
    assert mention.actor_id == uid("manager")
    assert "notes: already seeded, skipping" in lines
