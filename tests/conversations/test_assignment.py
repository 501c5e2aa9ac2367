"""Auto-assignment on arrival (through the webhook worker path), capacity under concurrency,
and the assign menu / assignee rule (view and API)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.contacts.models import Contact
from app.conversations import assignment, availability
from app.conversations.models import Conversation
from app.core.models import utcnow
from app.webhooks import batch
from app.webhooks.models import WebhookEvent
from tests.helpers import csrf_token_from, post_signed_webhook, set_availability, uid
from tests.webhooks.webhook_helpers import item, now_ms, payload


def _arrive(client, jobs, *psids: str) -> None:
    """New messages from these people, delivered as Meta would and processed by the worker."""
    t = now_ms()
    for i, psid in enumerate(psids):
        resp = post_signed_webhook(
            client, payload(item(psid=psid, ts=t + i, message={"mid": f"m_{psid}_{t}", "text": "hello"}))
        )
        assert resp.status_code == 200
    jobs(("webhooks",))


def _assignee_of(psid: str) -> int | None:
    db.session.expire_all()
    contact = db.session.scalar(select(Contact).where(Contact.psid == psid))
    conv = db.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
    return conv.assignee_id


def _mode(page, mode: str) -> None:
    page.auto_assign = mode
    db.session.commit()


def test_round_robin_takes_turns_between_online_agents(client, page, jobs):
    _mode(page, "round_robin")
    set_availability("agent")
    set_availability("agent2")
    _arrive(client, jobs, "p1", "p2", "p3", "p4")
    got = [_assignee_of(p) for p in ("p1", "p2", "p3", "p4")]
    assert sorted(got) == sorted([uid("agent"), uid("agent2")] * 2)
    assert got[0] != got[1]
    assert got[2] != got[3]
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action == "conversation_assigned")).all()
    assert len(actions) == 4


def test_balanced_picks_the_least_loaded(client, page, contact, jobs):
    _mode(page, "balanced")
    set_availability("agent")
    set_availability("agent2")
    for i in range(3):  # agent already has three open conversations
        c = Contact(page=page, psid=f"busy{i}", last_inbound_at=utcnow())
        db.session.add(c)
        db.session.add(Conversation(page_id=page.id, contact=c, status="open", assignee_id=uid("agent")))
    db.session.commit()
    _arrive(client, jobs, "n1", "n2")
    assert _assignee_of("n1") == uid("agent2")
    assert _assignee_of("n2") == uid("agent2")
    assert assignment.open_counts([uid("agent"), uid("agent2")]) == {uid("agent"): 3, uid("agent2"): 2}


def test_nobody_online_or_auto_assign_off_leaves_it_unassigned(client, page, jobs):
    _mode(page, "round_robin")
    set_availability("agent", "away")
    set_availability("admin")  # Admins are never auto-assigned
    set_availability("privacy")  # nor Privacy Officers (they cannot reply)
    _arrive(client, jobs, "q1")
    assert _assignee_of("q1") is None
    _mode(page, "off")
    set_availability("agent")
    _arrive(client, jobs, "q2")
    assert _assignee_of("q2") is None


def test_capacity_is_never_exceeded(client, page, jobs):
    _mode(page, "round_robin")
    set_availability("manager", capacity=1)  # Support Managers take conversations too
    _arrive(client, jobs, "c1", "c2")
    assert _assignee_of("c1") == uid("manager")
    assert _assignee_of("c2") is None


def test_a_conversation_reopened_by_the_contact_is_assigned(client, page, contact, jobs):
    conv = Conversation(page_id=page.id, contact=contact, status="closed")
    db.session.add(conv)
    db.session.commit()
    _mode(page, "balanced")
    set_availability("agent2")
    _arrive(client, jobs, contact.psid)
    db.session.expire_all()
    conv = db.session.get(Conversation, conv.id)
    assert conv.status == "open"
    assert conv.assignee_id == uid("agent2")


def test_logout_makes_the_user_away(client, login_as):
    set_availability("agent")
    login_as("agent")
    assert client.get("/logout/").status_code == 302
    db.session.expire_all()
    assert availability.get(uid("agent")).availability == "away"


def test_concurrent_arrivals_never_overshoot_capacity(app, client, page, monkeypatch):
    """Eight new conversations processed by four threads at once (PostgreSQL: four real
    transactions racing); one online agent with capacity 3 gets exactly three. Counting a load
    is slowed down so, without the row lock, every worker would see the same free capacity."""
    counted = assignment.open_counts

    def slow_counts(user_ids):
        result = counted(user_ids)
        time.sleep(0.2)
        return result

    monkeypatch.setattr(assignment, "open_counts", slow_counts)
    _mode(page, "balanced")
    set_availability("agent", capacity=3)
    t = now_ms()
    for i in range(8):
        post_signed_webhook(client, payload(item(psid=f"r{i}", ts=t + i, message={"mid": f"m_r{i}", "text": "hi"})))
    ids = list(db.session.scalars(select(WebhookEvent.id).order_by(WebhookEvent.id)))
    assert len(ids) == 8
    db.session.commit()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(chunk: list[int]) -> None:
        with app.app_context():
            try:
                start.wait(timeout=30)
                for event_id in chunk:
                    batch.process_event(event_id)
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(ids[i::4],)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert errors == []
    db.session.expire_all()
    assignees = list(db.session.scalars(select(Conversation.assignee_id)))
    assert len(assignees) == 8
    assert assignees.count(uid("agent")) == 3
    assert assignees.count(None) == 5


# ---------------------------------------------------------------------------- assign menu


def test_assign_menu_shows_display_names_with_open_counts(conversation, login_as):
    conversation.assignee_id = uid("agent")
    db.session.commit()
    set_availability("agent")
    html = login_as("manager").get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "agent Test (1 open)" in html
    assert "agent2 Test (0 open, away)" in html
    assert "privacy Test" not in html  # Privacy Officers cannot be assigned


def test_assigning_a_privacy_officer_is_refused_in_the_view(client, conversation, login_as):
    login_as("manager")
    page_html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    resp = client.post(
        f"/conversations/{conversation.id}/assign",
        data={"assignee_id": str(uid("privacy")), "csrf_token": csrf_token_from(page_html)},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "Not assigned: this user cannot be assigned conversations" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Conversation, conversation.id).assignee_id is None


@pytest.mark.parametrize(("assignee", "status"), [("privacy", 400), ("agent2", 200)])
def test_api_assignee_must_have_an_assignable_role(client, api, conversation, assignee, status):
    resp = client.put(
        f"/api/v1/conversation/{conversation.id}", json={"assignee_id": uid(assignee)}, headers=api("admin")
    )
    assert resp.status_code == status, resp.get_data(as_text=True)
    db.session.expire_all()
    expected = uid(assignee) if status == 200 else None
    assert db.session.get(Conversation, conversation.id).assignee_id == expected


def test_concurrent_assigners_are_serialised_by_the_availability_lock(app, page, monkeypatch):
    """The service alone, four transactions at once, each assigning two waiting conversations
    (no audited write happens before the count, so only the availability row lock keeps them
    from all seeing the same free capacity)."""
    counted = assignment.open_counts

    def slow_counts(user_ids):
        result = counted(user_ids)
        time.sleep(0.2)
        return result

    monkeypatch.setattr(assignment, "open_counts", slow_counts)
    _mode(page, "round_robin")
    set_availability("agent", capacity=3)
    ids = []
    for i in range(8):
        c = Contact(page=page, psid=f"w{i}", last_inbound_at=utcnow())
        conv = Conversation(page_id=page.id, contact=c, status="open", last_inbound_at=c.last_inbound_at)
        db.session.add_all([c, conv])
        db.session.flush()
        ids.append(conv.id)
    db.session.commit()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(chunk: list[int]) -> None:
        with app.app_context():
            try:
                convs = [db.session.get(Conversation, i) for i in chunk]
                start.wait(timeout=30)
                assignment.auto_assign(convs)
                db.session.commit()
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(ids[i::4],)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert errors == []
    db.session.expire_all()
    assert assignment.open_counts([uid("agent")]) == {uid("agent"): 3}


def test_grid_edit_refuses_an_assignee_who_cannot_reply(client, conversation, login_as):
    login_as("admin")
    form = client.get(f"/conversationmodelview/edit/{conversation.id}").get_data(as_text=True)
    resp = client.post(
        f"/conversationmodelview/edit/{conversation.id}",
        data={"status": "open", "assignee": str(uid("privacy")), "csrf_token": csrf_token_from(form)},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "this user cannot be assigned conversations" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Conversation, conversation.id).assignee_id is None
