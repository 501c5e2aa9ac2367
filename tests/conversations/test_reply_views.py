"""The inbox and conversation view, the reply API, and who may do what."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import db
from app.contacts.models import Contact
from app.conversations import services
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.core.queues import get_queue
from tests.helpers import csrf_token_from


def _inbound(conversation, text: str, **extra) -> Message:
    message = Message(conversation_id=conversation.id, direction="in", text=text, status="received", **extra)
    db.session.add(message)
    db.session.commit()
    return message


def _form_token(client, conversation) -> str:
    return csrf_token_from(client.get(f"/conversations/{conversation.id}").get_data(as_text=True))


def test_view_escapes_message_text_and_unsafe_urls(login_as, conversation):
    conversation.contact.profile_pic = "javascript:alert(1)"
    _inbound(
        conversation,
        "<script>alert('x')</script>",
        kind="image",
        attachments=[
            {"type": "image", "url": "javascript:alert(2)"},
            {"type": "file", "url": "https://cdn.test/a.pdf"},
        ],
    )
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(" in html
    assert "javascript:alert" not in html
    assert 'href="https://cdn.test/a.pdf"' in html
    assert "Reply window" in html
    assert "left" in html


def test_agent_replies_from_the_view_and_sees_status(login_as, conversation, fakegraph, jobs):
    client = login_as("agent")
    token = _form_token(client, conversation)
    resp = client.post(f"/conversations/{conversation.id}/reply", data={"text": "Hi <there>", "csrf_token": token})
    assert resp.status_code == 302
    message = db.session.scalar(select(Message).where(Message.direction == "out"))
    assert message.status == "queued"
    assert message.author.username == "agent"
    jobs(("outbound",))
    data = client.get(f"/conversations/{conversation.id}/poll?since=0").get_json()
    [polled] = [m for m in data["messages"] if m["id"] == message.id]
    assert polled["status"] == "sent"
    assert polled["text"] == "Hi <there>"
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "Hi &lt;there&gt;" in html


def test_view_reply_refused_shows_reason_and_writes_nothing(login_as, conversation):
    client = login_as("agent")
    token = _form_token(client, conversation)
    resp = client.post(
        f"/conversations/{conversation.id}/reply",
        data={"text": "x" * 2001, "csrf_token": token},
        follow_redirects=True,
    )
    assert resp.status_code == 422
    assert "Messenger allows at most 2000" in resp.get_data(as_text=True)
    assert db.session.query(Message).count() == 0


def test_reply_without_csrf_token_is_rejected(login_as, conversation):
    client = login_as("agent")
    resp = client.post(f"/conversations/{conversation.id}/reply", data={"text": "hi"})
    assert resp.status_code == 400
    assert db.session.query(Message).count() == 0


def test_privacy_officer_gets_403_on_view_and_api(login_as, api, client, conversation):
    headers = api("privacy")
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "hi"}, headers=headers)
    assert resp.status_code == 403
    login_as("privacy")
    assert client.get(f"/conversations/{conversation.id}").status_code == 403
    assert client.get("/conversations/").status_code == 403
    assert client.get(f"/conversations/{conversation.id}/poll?since=0").status_code == 403
    assert db.session.query(Message).count() == 0


def test_support_manager_cannot_reply_but_can_assign_and_close(login_as, api, client, conversation, app):
    headers = api("manager")
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "hi"}, headers=headers)
    assert resp.status_code == 403
    login_as("manager")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="reply-form"' not in html
    token = csrf_token_from(html)
    assert (
        client.post(f"/conversations/{conversation.id}/reply", data={"text": "hi", "csrf_token": token}).status_code
        == 403
    )
    agent = app.appbuilder.sm.find_user(username="agent")
    resp = client.post(f"/conversations/{conversation.id}/assign", data={"assignee_id": agent.id, "csrf_token": token})
    assert resp.status_code == 302
    resp = client.post(f"/conversations/{conversation.id}/status", data={"status": "closed", "csrf_token": token})
    assert resp.status_code == 302
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert (conv.assignee_id, conv.status) == (agent.id, "closed")
    assert db.session.query(Message).count() == 0


def test_only_staff_who_can_reply_are_offered_for_assignment(login_as, client, conversation, app):
    sm = app.appbuilder.sm
    login_as("manager")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    offered = set(re.findall(r'<option value="(\d+)"', html))
    assert str(sm.find_user(username="agent").id) in offered
    assert str(sm.find_user(username="privacy").id) not in offered
    token = csrf_token_from(html)
    privacy_id = sm.find_user(username="privacy").id
    client.post(f"/conversations/{conversation.id}/assign", data={"assignee_id": privacy_id, "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Conversation, conversation.id).assignee_id is None
    with pytest.raises(services.ConversationError, match="who can reply"):
        services.assign(conversation, privacy_id)


def test_agent_can_take_but_not_assign_others(login_as, conversation, app):
    client = login_as("agent")
    token = _form_token(client, conversation)
    other = app.appbuilder.sm.find_user(username="agent2")
    resp = client.post(f"/conversations/{conversation.id}/assign", data={"assignee_id": other.id, "csrf_token": token})
    assert resp.status_code == 403
    assert client.post(f"/conversations/{conversation.id}/take", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Conversation, conversation.id).assignee.username == "agent"


def test_api_reply_agent_accepted_and_refusals_are_422(api, client, conversation, app, monkeypatch):
    headers = api("agent")
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "hello"}, headers=headers)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "queued"
    assert body["messaging_type"] == "RESPONSE"
    message = db.session.get(Message, body["id"])
    assert message.author.username == "agent"
    assert get_queue("outbound").count == 1
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "x" * 2001}, headers=headers)
    assert resp.status_code == 400
    assert "2000" in resp.get_json()["message"]
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": 5}, headers=headers)
    assert resp.status_code == 400
    conversation.contact.last_inbound_at = conversation.last_inbound_at = utcnow() - timedelta(days=2)
    db.session.commit()
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", False)
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "late"}, headers=headers)
    assert resp.status_code == 422
    assert "only allows replies within 24 hours" in resp.get_json()["message"]
    assert db.session.query(Message).count() == 1


def test_inbox_lists_open_unassigned_first_with_unread(login_as, conversation, page, app):

    other_contact = Contact(page=page, psid="7001002999", first_name="Grace", last_inbound_at=utcnow())
    db.session.add(other_contact)
    db.session.flush()
    assigned = Conversation(
        page_id=page.id,
        contact_id=other_contact.id,
        status="open",
        last_message_at=utcnow() - timedelta(hours=5),
        assignee_id=app.appbuilder.sm.find_user(username="agent").id,
    )
    conversation.unread_count = 3
    db.session.add(assigned)
    closed_contact = Contact(page=page, psid="7001002888", first_name="Closedy")
    db.session.add(closed_contact)
    db.session.flush()
    db.session.add(Conversation(page_id=page.id, contact_id=closed_contact.id, status="closed"))
    db.session.commit()
    _inbound(conversation, "waiting for you")
    client = login_as("agent")
    html = client.get("/conversations/?queue=all").get_data(as_text=True)
    assert html.index("Ada Lovelace") < html.index("Grace")
    assert '<span class="badge">3</span>' in html
    assert "Closedy" not in html
    mine = client.get("/conversations/?assignee=me").get_data(as_text=True)
    assert "Grace" in mine
    assert "Ada Lovelace" not in mine


def test_thread_is_paged_newest_at_bottom(login_as, conversation):
    base = utcnow() - timedelta(hours=2)
    for i in range(60):
        db.session.add(
            Message(
                conversation_id=conversation.id,
                direction="in",
                text=f"line-{i:02d}",
                status="received",
                created_at=base + timedelta(seconds=i),
            )
        )
    db.session.commit()
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "line-59" in html
    assert "line-10" in html
    assert "line-09" not in html
    assert html.index("line-10") < html.index("line-59")
    messages, has_older = services.thread_page(conversation)
    assert has_older
    assert len(messages) == 50
    older, more = services.thread_page(conversation, (messages[0].created_at, messages[0].id))
    assert [m.text for m in older] == [f"line-{i:02d}" for i in range(10)]
    assert not more
    assert "older messages" in html
