"""Private notes: shown in the thread, encrypted, never sent, bounded; @mentions notify."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from app import db
from app.audit.models import AuditLog
from app.conversations.models import Message
from app.conversations.notes import add_note
from app.conversations.workspace_models import ConversationNote
from app.core.models import utcnow
from app.core.queues import get_queue
from app.notifications.models import Notification
from app.ops import keys
from app.privacy.erasure import erase_contact
from app.privacy.retention import run_retention
from tests.helpers import csrf_token_from, uid


def _notes() -> int:
    return db.session.scalar(select(func.count(ConversationNote.id)))


def _notified(username: str) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == uid(username))))


def test_note_from_the_view_shows_in_the_thread_in_time_order(login_as, conversation):
    now = utcnow()
    for minutes, body in ((10, "first message"), (1, "last message")):
        db.session.add(
            Message(
                conversation_id=conversation.id,
                direction="in",
                text=body,
                status="received",
                created_at=now - timedelta(minutes=minutes),
            )
        )
    db.session.add(
        ConversationNote(
            conversation_id=conversation.id,
            author_id=uid("manager"),
            text="between <b>",
            created_at=now - timedelta(minutes=5),
        )
    )
    db.session.commit()
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    resp = client.post(
        f"/conversations/{conversation.id}/notes",
        data={"text": "newest note", "csrf_token": csrf_token_from(html)},
    )
    assert resp.status_code == 302
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "Private note" in html
    assert "between &lt;b&gt;" in html
    order = [html.index(s) for s in ("first message", "between &lt;b&gt;", "last message", "newest note")]
    assert order == sorted(order)


def test_note_form_needs_csrf(login_as, conversation):
    client = login_as("agent")
    resp = client.post(f"/conversations/{conversation.id}/notes", data={"text": "no token"})
    assert resp.status_code == 400
    assert _notes() == 0


def test_note_over_the_api_and_its_limits(client, api, conversation):
    url = f"/api/v1/conversation/{conversation.id}/note"
    headers = api("manager")
    resp = client.post(url, json={"text": "x" * 10_000}, headers=headers)
    assert resp.status_code == 422
    assert "10000 characters" in resp.get_json()["message"]
    assert client.post(url, json={"text": "   "}, headers=headers).status_code == 422
    assert client.post(url, json={"text": 5}, headers=headers).status_code == 400
    assert client.post(url, json={"note": "x"}, headers=headers).status_code == 400
    assert client.post(url, data="nope", headers=headers).status_code == 400
    assert client.post("/api/v1/conversation/999999/note", json={"text": "x"}, headers=headers).status_code == 404
    assert client.post(url, json={"text": "hello"}, headers=api("privacy")).status_code == 403
    assert _notes() == 0
    resp = client.post(url, json={"text": "x" * 5000}, headers=headers)
    assert resp.status_code == 201
    assert _notes() == 1


def test_note_is_encrypted_never_sent_and_audited_without_text(conversation):
    secret = "call back after the refund, ref 8812"
    note = add_note(conversation, secret, author_id=uid("agent"))
    stored = db.session.execute(text("SELECT text FROM conversation_note WHERE id = :id"), {"id": note.id}).scalar_one()
    assert secret not in stored
    assert ("conversation_note", ["text"]) in [(t.name, t.columns) for t in keys.encrypted_tables()]  # key rotation
    assert db.session.scalar(select(func.count(Message.id))) == 0
    assert get_queue("outbound").count == 0
    rows = list(db.session.scalars(select(AuditLog).where(AuditLog.action.in_(("note_added", "create")))))
    assert any(r.action == "note_added" for r in rows)
    dump = " ".join(str(r.changes) for r in db.session.scalars(select(AuditLog)))
    assert secret not in dump
    assert "8812" not in dump


def test_mentions_notify_people_who_can_read_conversations(client, api, conversation):
    url = f"/api/v1/conversation/{conversation.id}/note"
    body = "@agent2 please look; also @nobody, @privacy and bob@agent2.example. Thanks @agent2."
    resp = client.post(url, json={"text": body}, headers=api("agent"))
    assert resp.status_code == 201
    [notification] = _notified("agent2")
    assert notification.kind == "mention"
    assert notification.conversation_id == conversation.id
    assert notification.read_at is None
    assert _notified("privacy") == []  # cannot read conversations: left as text
    client.post(url, json={"text": "note to self @agent"}, headers=api("agent"))
    assert _notified("agent") == []
    assert db.session.scalar(select(func.count(Notification.id))) == 1


def test_erasure_removes_notes_and_their_notifications(contact, conversation):
    add_note(conversation, "@agent2 customer wants a refund", author_id=uid("agent"))
    assert _notes() == 1
    assert len(_notified("agent2")) == 1
    erase_contact(contact)
    assert _notes() == 0
    assert _notified("agent2") == []


def test_retention_removes_old_notes(conversation, page):
    page.retention_days = 30
    old = ConversationNote(conversation_id=conversation.id, text="old", created_at=utcnow() - timedelta(days=31))
    new = ConversationNote(conversation_id=conversation.id, text="new", created_at=utcnow() - timedelta(days=1))
    db.session.add_all([old, new])
    db.session.commit()
    run_retention()
    assert [n.text for n in db.session.scalars(select(ConversationNote))] == ["new"]
