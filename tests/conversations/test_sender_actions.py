"""Sender actions: mark_seen on opening unread, typing_on while typing (throttled); best effort."""

from __future__ import annotations

from datetime import timedelta

from app import db
from app.conversations.sender_actions import TYPING_KEY
from app.conversations.sender_tasks import send_sender_action
from app.core.models import utcnow
from app.core.queues import get_queue, get_redis
from tests.helpers import csrf_token_from, instagram_conversation, login, redis_unreachable


def _open(client, conversation) -> str:
    resp = client.get(f"/conversations/{conversation.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _typing(client, conversation, token: str):
    return client.post(f"/conversations/{conversation.id}/typing", headers={"X-CSRFToken": token})


def test_opening_unread_conversation_sends_mark_seen_once(client, login_as, conversation, fakegraph, jobs):
    conversation.unread_count = 2
    db.session.commit()
    login_as("agent")
    _open(client, conversation)
    assert get_queue("outbound").count == 1  # queued, not sent on the request
    assert fakegraph.sender_actions == []
    jobs(("outbound",))
    assert fakegraph.sender_actions == [
        {"page_id": conversation.page.fb_page_id, "psid": conversation.contact.psid, "action": "mark_seen"}
    ]
    _open(client, conversation)  # nothing unread any more
    jobs(("outbound",))
    assert len(fakegraph.sender_actions) == 1


def test_no_mark_seen_without_unread_or_outside_the_window(client, login_as, conversation, fakegraph, jobs):
    login_as("agent")
    _open(client, conversation)
    assert get_queue("outbound").count == 0
    conversation.unread_count = 1
    conversation.contact.last_inbound_at = conversation.last_inbound_at = utcnow() - timedelta(days=2)
    db.session.commit()
    _open(client, conversation)
    assert get_queue("outbound").count == 0
    jobs(("outbound",))
    assert fakegraph.sender_actions == []


def test_manager_looking_at_an_agents_conversation_sends_nothing(client, login_as, conversation, fakegraph, jobs):
    from tests.helpers import uid  # noqa: PLC0415 - test-local

    conversation.unread_count = 1
    conversation.assignee_id = uid("agent")
    db.session.commit()
    login_as("manager")
    _open(client, conversation)
    jobs(("outbound",))
    assert fakegraph.sender_actions == []


def test_typing_is_throttled_to_once_per_10_s(client, login_as, conversation, fakegraph, jobs):
    login_as("agent")
    token = csrf_token_from(_open(client, conversation))
    resp = _typing(client, conversation, token)
    assert resp.status_code == 202
    assert resp.get_json() == {"queued": True, "reason": None}
    resp = _typing(client, conversation, token)
    assert resp.status_code == 200
    assert resp.get_json() == {"queued": False, "reason": "typing was shown less than 10 s ago"}
    assert 0 < get_redis().ttl(TYPING_KEY.format(conversation.id)) <= 10
    jobs(("outbound",))
    assert [a["action"] for a in fakegraph.sender_actions] == ["typing_on"]
    get_redis().delete(TYPING_KEY.format(conversation.id))  # ten seconds later
    assert _typing(client, conversation, token).status_code == 202
    jobs(("outbound",))
    assert [a["action"] for a in fakegraph.sender_actions] == ["typing_on", "typing_on"]


def test_typing_outside_the_window_is_not_sent(client, login_as, conversation, fakegraph, jobs):
    conversation.contact.last_inbound_at = conversation.last_inbound_at = utcnow() - timedelta(days=2)
    db.session.commit()
    login_as("agent")
    token = csrf_token_from(_open(client, conversation))
    resp = _typing(client, conversation, token)
    assert resp.status_code == 200
    assert resp.get_json() == {"queued": False, "reason": "outside the 24-hour window"}
    jobs(("outbound",))
    assert fakegraph.sender_actions == []


def test_typing_needs_csrf_and_the_reply_permission(app, client, login_as, conversation):
    login_as("agent")
    resp = client.post(f"/conversations/{conversation.id}/typing")
    assert resp.status_code == 400
    token = csrf_token_from(_open(client, conversation))
    assert client.post("/conversations/999999/typing", headers={"X-CSRFToken": token}).status_code == 404
    other = app.test_client()
    assert login(other, "privacy").status_code == 302
    token = csrf_token_from(other.get("/resetmypassword/form").get_data(as_text=True))
    assert _typing(other, conversation, token).status_code == 403


def test_instagram_gets_sender_actions_too(client, login_as, page, fakegraph, jobs):
    conversation = instagram_conversation(page)
    conversation.unread_count = 1
    db.session.commit()
    login_as("agent")
    token = csrf_token_from(_open(client, conversation))
    assert _typing(client, conversation, token).status_code == 202
    jobs(("outbound",))
    assert [(a["psid"], a["action"]) for a in fakegraph.sender_actions] == [
        ("1122334455667788", "mark_seen"),
        ("1122334455667788", "typing_on"),
    ]


def test_graph_failure_is_only_logged(conversation, fakegraph, jobs):
    fakegraph.fail_next(190, message="Error validating access token", sender_actions=True)
    assert send_sender_action(conversation.id, "typing_on") == "failed: ReauthRequiredError"
    db.session.expire_all()
    assert conversation.page.needs_reauth is False  # best effort: sends decide about tokens
    assert send_sender_action(conversation.id, "typing_on") == "sent"
    assert send_sender_action(conversation.id, "wave") == "unknown action 'wave'"
    assert send_sender_action(999999, "typing_on") == "conversation gone"


def test_redis_down_never_blocks_opening_typing_or_replying(app, client, login_as, conversation):
    conversation.unread_count = 1
    db.session.commit()
    login_as("agent")
    token = csrf_token_from(_open(client, conversation))
    conversation.unread_count = 1
    db.session.commit()
    with redis_unreachable(app):
        _open(client, conversation)
        resp = _typing(client, conversation, token)
        assert resp.status_code == 200
        assert resp.get_json() == {"queued": False, "reason": "could not be queued"}
        resp = client.post(f"/conversations/{conversation.id}/reply", data={"csrf_token": token, "text": "still works"})
        assert resp.status_code == 302
