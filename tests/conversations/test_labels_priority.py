"""Labels and priority: the conversation panel's form and `PUT /api/v1/conversation/<id>`,
validated (clear 4xx/flash, nothing half-written), stored with their filter table, audited."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.conversations.labels import label_suggestions
from app.conversations.models import Conversation, ConversationLabel
from tests.helpers import csrf_token_from


def _labels_in_table(conv_id: int) -> list[str]:
    rows = db.session.scalars(select(ConversationLabel.label).where(ConversationLabel.conversation_id == conv_id))
    return sorted(rows)


def test_agent_sets_labels_and_priority_from_the_conversation(login_as, client, conversation):
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="labels-form"' in html
    token = csrf_token_from(html)
    resp = client.post(
        f"/conversations/{conversation.id}/labels",
        data={"labels": "VIP,  billing issue , vip", "priority": "high", "csrf_token": token},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert (conv.labels, conv.priority) == (["vip", "billing issue"], "high")
    assert _labels_in_table(conv.id) == ["billing issue", "vip"]
    assert label_suggestions() == ["billing issue", "vip"]
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert '<option value="billing issue">' in page  # datalist suggestions
    assert 'conv-label">vip</span>' in page
    audited = db.session.scalars(select(AuditLog.entity_type).where(AuditLog.entity_type == "conversation_label"))
    assert len(list(audited)) == 2


def test_bad_label_is_flashed_and_nothing_is_written(login_as, client, conversation):
    client = login_as("agent")
    token = csrf_token_from(client.get(f"/conversations/{conversation.id}").get_data(as_text=True))
    for labels, priority in (("ok, <b>bad</b>", "high"), ("x" * 33, "low"), ("fine", "extreme")):
        resp = client.post(
            f"/conversations/{conversation.id}/labels",
            data={"labels": labels, "priority": priority, "csrf_token": token},
            follow_redirects=True,
        )
        assert resp.status_code == 200
        assert "Labels not saved:" in resp.get_data(as_text=True)
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert (conv.labels, conv.priority) == (None, "normal")
    assert _labels_in_table(conv.id) == []


def test_privacy_officer_cannot_label(login_as, client, conversation):
    client = login_as("agent")
    token = csrf_token_from(client.get(f"/conversations/{conversation.id}").get_data(as_text=True))
    client.get("/logout/")
    login_as("privacy")
    resp = client.post(f"/conversations/{conversation.id}/labels", data={"labels": "x", "csrf_token": token})
    assert resp.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Conversation, conversation.id).labels is None


def test_api_put_labels_and_priority(client, api, conversation):
    headers = api("agent")
    url = f"/api/v1/conversation/{conversation.id}"
    resp = client.put(url, json={"labels": ["Refund", "vip"], "priority": "urgent"}, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert (conv.labels, conv.priority) == (["refund", "vip"], "urgent")
    assert _labels_in_table(conv.id) == ["refund", "vip"]
    shown = client.get(url, headers=headers).get_json()["result"]
    assert (shown["labels"], shown["priority"], shown["channel"]) == (["refund", "vip"], "urgent", "messenger")

    resp = client.put(url, json={"labels": ["vip"]}, headers=headers)
    assert resp.status_code == 200
    db.session.expire_all()
    assert _labels_in_table(conversation.id) == ["vip"]


def test_api_put_refuses_bad_labels_and_priority_without_writing(client, api, conversation):
    headers = api("agent")
    url = f"/api/v1/conversation/{conversation.id}"
    for body in (
        {"labels": ["ok", "no<script>"]},
        {"labels": "vip"},
        {"labels": [1, 2]},
        {"labels": [f"l{i}" for i in range(11)]},
        {"priority": "extreme"},
        {"priority": 3},
    ):
        resp = client.put(url, json=body, headers=headers)
        assert resp.status_code in (400, 422), (body, resp.status_code)
        assert resp.get_json().get("message")
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert (conv.labels, conv.priority) == (None, "normal")
    assert _labels_in_table(conv.id) == []


def test_api_put_by_an_agent_cannot_assign_others(client, api, conversation, app):
    headers = api("agent")
    url = f"/api/v1/conversation/{conversation.id}"
    manager_id = app.appbuilder.sm.find_user(username="manager").id
    resp = client.put(url, json={"assignee_id": manager_id, "labels": ["x"]}, headers=headers)
    assert resp.status_code == 403
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert (conv.assignee_id, conv.labels) == (None, None)
    agent_id = app.appbuilder.sm.find_user(username="agent").id
    assert client.put(url, json={"assignee_id": agent_id}, headers=headers).status_code == 200
    assert client.put(url, json={"status": "closed"}, headers=headers).status_code == 200
    assert client.put(url, json={"labels": ["y"]}, headers=api("privacy")).status_code == 403
