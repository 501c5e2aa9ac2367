"""Canned replies: variables rendered server-side, refused on save when unknown, who may use them."""

from __future__ import annotations

from sqlalchemy import func, select

from app import db
from app.conversations import canned
from app.conversations.models import Message
from app.conversations.workspace_models import CannedReply
from app.pages.models import Page
from tests.helpers import csrf_token_from, uid

GREETING = "Hi {{contact.first_name}} {{ contact.last_name }}, {{agent.first_name}} from {{page.name}} here."


def _canned(shortcut: str = "greet", text: str = GREETING, page_id: int | None = None) -> CannedReply:
    row = CannedReply(shortcut=shortcut, title=shortcut.title(), text=text, page_id=page_id)
    db.session.add(row)
    db.session.commit()
    return row


def _count() -> int:
    return db.session.scalar(select(func.count(CannedReply.id)))


def test_variables_are_filled_in(conversation):
    reply = _canned()
    text = canned.render(reply, conversation, agent_id=uid("agent"))
    assert text == "Hi Ada Lovelace, agent from Test Page here."


def test_missing_values_render_empty_never_none_or_braces(conversation):
    conversation.contact.first_name = None
    conversation.contact.last_name = ""
    db.session.commit()
    reply = _canned(text="Hello {{contact.first_name}}{{contact.last_name}}! {{agent.first_name}}")
    text = canned.render(reply, conversation, agent_id=None)  # no agent (a job, the CLI)
    assert text == "Hello !"
    assert "None" not in text
    assert "{{" not in text


def test_unknown_variable_is_refused_over_the_api(client, api):
    headers = api("manager")
    body = {"shortcut": "bad", "title": "Bad", "text": "Hi {{contact.email}}"}
    resp = client.post("/api/v1/canned_reply/", json=body, headers=headers)
    assert resp.status_code == 422
    assert "contact.email" in resp.get_json()["message"]
    resp = client.post("/api/v1/canned_reply/", json={**body, "text": "Hi {{contact.first_name"}, headers=headers)
    assert resp.status_code == 422
    assert _count() == 0


def test_unknown_variable_is_refused_in_the_grid(login_as):
    client = login_as("manager")
    token = csrf_token_from(client.get("/cannedreplymodelview/add").get_data(as_text=True))
    resp = client.post(
        "/cannedreplymodelview/add",
        data={"shortcut": "bad", "title": "Bad", "text": "Hi {{agent.last_name}}", "csrf_token": token},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "unknown variable(s) agent.last_name" in resp.get_data(as_text=True)
    assert _count() == 0


def test_manager_manages_canned_replies_over_the_api(client, api, page):
    headers = api("manager")
    resp = client.post(
        "/api/v1/canned_reply/",
        json={"shortcut": "/Thanks", "title": "Thanks", "text": "Thanks {{contact.first_name}}!", "page_id": page.id},
        headers=headers,
    )
    assert resp.status_code == 201, resp.get_json()
    row_id = resp.get_json()["id"]
    assert db.session.get(CannedReply, row_id).shortcut == "thanks"
    dup = client.post("/api/v1/canned_reply/", json={"shortcut": "thanks", "title": "x", "text": "y"}, headers=headers)
    assert dup.status_code == 409
    resp = client.put(f"/api/v1/canned_reply/{row_id}", json={"title": "Thank you"}, headers=headers)
    assert resp.status_code == 200
    assert client.delete(f"/api/v1/canned_reply/{row_id}", headers=headers).status_code == 403  # only Admins delete
    assert client.delete(f"/api/v1/canned_reply/{row_id}", headers=api("admin")).status_code == 200


def test_agents_read_and_use_privacy_officers_see_nothing(client, api, login_as, conversation):
    reply = _canned()
    agent = api("agent")
    assert client.get("/api/v1/canned_reply/", headers=agent).status_code == 200
    assert (
        client.post(
            "/api/v1/canned_reply/", json={"shortcut": "x", "title": "x", "text": "x"}, headers=agent
        ).status_code
        == 403
    )
    assert client.put(f"/api/v1/canned_reply/{reply.id}", json={"title": "x"}, headers=agent).status_code == 403
    privacy = api("privacy")
    assert client.get("/api/v1/canned_reply/", headers=privacy).status_code == 403
    assert client.get(f"/api/v1/canned_reply/{reply.id}", headers=privacy).status_code == 403
    officer = login_as("privacy")
    assert officer.get("/cannedreplymodelview/list/").status_code == 403
    assert officer.get(f"/conversations/{conversation.id}/canned-replies?q=gr").status_code == 403


def test_picker_offers_matches_rendered_for_the_conversation(login_as, conversation):
    _canned()
    _canned("goodbye", "Bye {{contact.first_name}}")
    other = Page(fb_page_id="999", name="Other Page")
    db.session.add(other)
    db.session.commit()
    _canned("gone", "Other page only", page_id=other.id)
    client = login_as("agent")
    data = client.get(f"/conversations/{conversation.id}/canned-replies?q=g").get_json()
    assert [c["shortcut"] for c in data["result"]] == ["goodbye", "greet"]
    assert data["result"][1]["text"] == "Hi Ada Lovelace, agent from Test Page here."
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="canned-list"' in html
    assert "canned-replies" in html
    assert client.get("/conversations/999999/canned-replies").status_code == 404


def test_reply_api_sends_a_canned_reply(client, api, conversation):
    reply = _canned()
    headers = api("agent")
    url = f"/api/v1/conversation/{conversation.id}/reply"
    resp = client.post(url, json={"canned_reply_id": reply.id}, headers=headers)
    assert resp.status_code == 202, resp.get_json()
    message = db.session.get(Message, resp.get_json()["id"])
    assert message.text == "Hi Ada Lovelace, agent from Test Page here."
    assert client.post(url, json={"canned_reply_id": 999999}, headers=headers).status_code == 404
    assert client.post(url, json={"canned_reply_id": "1"}, headers=headers).status_code == 400
    assert client.post(url, json={"canned_reply_id": reply.id, "text": "x"}, headers=headers).status_code == 400
    other = Page(fb_page_id="999", name="Other Page")
    db.session.add(other)
    db.session.commit()
    foreign = _canned("other", "Other page only", page_id=other.id)
    assert client.post(url, json={"canned_reply_id": foreign.id}, headers=headers).status_code == 422
    assert db.session.scalar(select(func.count(Message.id))) == 1
