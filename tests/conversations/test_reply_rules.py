"""Reply rules: window boundaries, text length, page and contact preconditions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import db
from app.conversations import services
from app.conversations.models import Message
from app.core.models import utcnow
from app.core.queues import get_queue


def _last_inbound(conversation, ago: timedelta) -> None:
    at = utcnow() - ago
    conversation.contact.last_inbound_at = at
    conversation.last_inbound_at = at
    db.session.commit()


@pytest.fixture
def human_agent_tag(app, monkeypatch):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", True)


def test_reply_inside_24h_is_a_response_and_is_queued(conversation):
    _last_inbound(conversation, timedelta(hours=23, minutes=59))
    message = services.queue_reply(conversation, "  Hello Ada  ", author_id=None)
    assert (message.status, message.messaging_type, message.tag) == ("queued", "RESPONSE", None)
    assert message.text == "Hello Ada"
    assert conversation.first_response_at is not None
    assert get_queue("outbound").count == 1


def test_reply_after_24h_refused_without_human_agent_tag(app, conversation, monkeypatch):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", False)
    _last_inbound(conversation, timedelta(hours=24, minutes=1))
    with pytest.raises(services.ReplyRefused, match="only allows replies within 24 hours"):
        services.queue_reply(conversation, "late", human_agent=True)
    assert db.session.scalar(select(Message)) is None
    assert get_queue("outbound").count == 0


def test_reply_after_24h_uses_human_agent_tag_when_enabled(conversation, human_agent_tag):
    _last_inbound(conversation, timedelta(hours=24, minutes=1))
    with pytest.raises(services.ReplyRefused, match="personal reply written by you"):
        services.queue_reply(conversation, "late")
    message = services.queue_reply(conversation, "late", human_agent=True)
    assert (message.messaging_type, message.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_human_agent_tag_limited_to_7_days(conversation, human_agent_tag):
    _last_inbound(conversation, timedelta(days=6, hours=23, minutes=59))
    assert services.queue_reply(conversation, "ok", human_agent=True).tag == "HUMAN_AGENT"
    _last_inbound(conversation, timedelta(days=7, minutes=1))
    with pytest.raises(services.ReplyRefused, match="last wrote 7 days ago"):
        services.queue_reply(conversation, "too late", human_agent=True)


def test_2000_characters_accepted_2001_refused(conversation):
    assert services.queue_reply(conversation, "x" * 2000).status == "queued"
    with pytest.raises(services.ReplyRefused, match="2001 characters"):
        services.queue_reply(conversation, "x" * 2001)
    with pytest.raises(services.ReplyRefused, match="empty"):
        services.queue_reply(conversation, "   \n ")
    assert db.session.query(Message).count() == 1


def test_erased_or_restricted_contact_refused(conversation):
    conversation.contact.restricted = True
    db.session.commit()
    with pytest.raises(services.ReplyRefused, match="restricted"):
        services.queue_reply(conversation, "hi")
    conversation.contact.restricted = False
    conversation.contact.erased_at = utcnow()
    db.session.commit()
    with pytest.raises(services.ReplyRefused, match="erased"):
        services.queue_reply(conversation, "hi")
    assert db.session.query(Message).count() == 0


def test_page_needing_reauth_or_without_token_refused(conversation):
    conversation.page.needs_reauth = True
    db.session.commit()
    with pytest.raises(services.ReplyRefused, match="expired or was revoked"):
        services.queue_reply(conversation, "hi")
    conversation.page.needs_reauth = False
    conversation.page.access_token = None
    db.session.commit()
    with pytest.raises(services.ReplyRefused, match="no access token"):
        services.queue_reply(conversation, "hi")


def test_assign_and_status_rules(conversation, app):
    user = app.appbuilder.sm.find_user(username="agent")
    services.assign(conversation, user.id)
    assert conversation.assignee_id == user.id
    with pytest.raises(services.ConversationError):
        services.assign(conversation, 999999)
    services.set_status(conversation, "closed")
    assert conversation.status == "closed"
    with pytest.raises(services.ConversationError):
        services.set_status(conversation, "archived")
    db.session.expire_all()
    assert conversation.status == "closed"
