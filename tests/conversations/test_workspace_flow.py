"""Issue 21 in the workspace: reply offers "assign to me" (or does it with ASSIGN_ON_REPLY),
closing goes to the next conversation of the queue, and unread clears only for the assignee."""

from __future__ import annotations

from app import db
from app.conversations.models import Conversation
from tests.helpers import csrf_token_from, uid, waiting_conversation


def test_reply_offers_assign_to_me_and_does_it_when_ticked(login_as, client, conversation):
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="assign-to-me"' in html
    token = csrf_token_from(html)
    resp = client.post(
        f"/conversations/{conversation.id}/reply",
        data={"text": "on it", "assign_to_me": "y", "csrf_token": token},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "assigned to you" in resp.get_data(as_text=True)
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert (conv.assignee_id, conv.awaiting_reply) == (uid("agent"), False)


def test_reply_without_the_box_leaves_it_unassigned(login_as, client, conversation):
    client = login_as("agent")
    token = csrf_token_from(client.get(f"/conversations/{conversation.id}").get_data(as_text=True))
    assert (
        client.post(f"/conversations/{conversation.id}/reply", data={"text": "hi", "csrf_token": token}).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(Conversation, conversation.id).assignee_id is None


def test_assign_on_reply_setting_assigns_automatically(login_as, client, conversation, app, monkeypatch):
    monkeypatch.setitem(app.config, "ASSIGN_ON_REPLY", True)
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="assign-on-reply"' in html
    token = csrf_token_from(html)
    assert (
        client.post(f"/conversations/{conversation.id}/reply", data={"text": "hi", "csrf_token": token}).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(Conversation, conversation.id).assignee_id == uid("agent")


def test_closing_goes_to_the_next_in_the_queue(login_as, client, page):
    first = waiting_conversation(page, "first", 23)
    second = waiting_conversation(page, "second", 10)
    client = login_as("agent")
    assert client.get("/conversations/?queue=needs_reply").status_code == 200  # remembers the queue
    token = csrf_token_from(client.get(f"/conversations/{first.id}").get_data(as_text=True))
    resp = client.post(f"/conversations/{first.id}/status", data={"status": "closed", "csrf_token": token})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/conversations/{second.id}")
    resp = client.post(f"/conversations/{second.id}/status", data={"status": "closed", "csrf_token": token})
    assert resp.status_code == 302
    assert "/conversations/?queue=needs_reply" in resp.headers["Location"]


def test_unread_clears_only_for_the_assignee(login_as, client, page):
    conv = waiting_conversation(page, "unread", 1, assignee_id=None, unread_count=2)
    conv.assignee_id = uid("agent")
    db.session.commit()
    login_as("manager")
    assert client.get(f"/conversations/{conv.id}").status_code == 200
    db.session.expire_all()
    assert db.session.get(Conversation, conv.id).unread_count == 2  # a manager looking leaves it
    client.get("/logout/")
    login_as("agent")
    assert client.get(f"/conversations/{conv.id}").status_code == 200
    db.session.expire_all()
    seen = db.session.get(Conversation, conv.id)
    assert seen.unread_count == 0
    assert seen.assignee_read_at is not None
