"""Each kind of event produces exactly one audit row with the right fields."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from app import db
from app.audit import listeners, service
from app.audit.models import AuditLog
from app.audit.verify import verify_chain
from app.contacts.models import Contact
from app.conversations.models import Message
from app.core.context import Actor, acting_as
from app.core.queues import get_queue, task
from tests.helpers import csrf_token_from, login


def rows(action: str | None = None, entity_type: str | None = None) -> list[AuditLog]:
    db.session.expire_all()
    q = select(AuditLog).order_by(AuditLog.id)
    if action:
        q = q.where(AuditLog.action == action)
    if entity_type:
        q = q.where(AuditLog.entity_type == entity_type)
    return list(db.session.scalars(q))


def test_insert_update_delete_of_a_contact_are_one_row_each(page):

    with acting_as(Actor(7, "alice", "10.0.0.9", "pytest-agent"), "req-123"):
        c = Contact(page=page, psid="555000111", first_name="Zebulon", locale="fr_FR", tags="vip")
        db.session.add(c)
        db.session.commit()
        [ins] = rows("insert", "contact")
        assert ins.entity_id == str(c.id)
        assert (ins.actor_id, ins.actor_name, ins.ip, ins.user_agent, ins.request_id) == (
            7,
            "alice",
            "10.0.0.9",
            "pytest-agent",
            "req-123",
        )
        assert ins.changes["first_name"] == "[redacted]"
        assert ins.changes["psid"] == "[redacted]"
        assert ins.changes["locale"] == "[redacted]"  # personal: outlives erasure in the log

        c.tags = "vip,late"
        c.notes = "secret note"
        db.session.commit()
        [upd] = rows("update", "contact")
        assert upd.changes == {"tags": "[redacted]", "notes": "[redacted]"}

        db.session.delete(c)
        db.session.commit()
        [dele] = rows("delete", "contact")
        assert dele.entity_id == str(c.id)
    assert verify_chain().ok


def test_no_row_for_a_flush_without_changes(contact):
    before = len(rows())
    contact.tags = contact.tags  # same value: not a change
    db.session.commit()
    assert len(rows()) == before


def test_business_event_via_record_joins_the_callers_transaction(contact):
    before = len(rows())
    service.record("reply_sent", "message", 42, {"status": "sent", "text": "hello there"}, mid="m_1")
    db.session.rollback()
    assert len(rows()) == before  # rolled back with the caller's work
    service.record("reply_sent", "message", 42, {"status": "sent", "text": "hello there"}, mid="m_1")
    db.session.commit()
    [row] = rows("reply_sent")
    assert row.changes == {"status": "sent", "text": "[redacted]", "mid": "m_1"}
    assert row.entity_type == "message"
    assert row.entity_id == "42"


def test_record_auth_event_commits_alone_without_the_callers_pending_work(page):

    db.session.add(Contact(page=page, psid="1", first_name="Pending"))  # pending, not flushed
    service.record_auth_event("login_failed", "mallory", None, reason="unknown_user")
    db.session.rollback()
    [row] = rows("login_failed")
    assert (row.actor_name, row.actor_id, row.changes) == ("mallory", None, {"reason": "unknown_user"})
    assert rows("insert", "contact") == []
    assert verify_chain().ok


def test_record_auth_event_after_a_flush_does_not_deadlock(page):

    db.session.add(Contact(page=page, psid="2"))
    db.session.flush()  # this transaction now holds the chain/write lock
    service.record_auth_event("logout", "agent", 3)
    db.session.commit()
    assert len(rows("logout")) == 1
    assert len(rows("insert", "contact")) == 1
    assert verify_chain().ok


def test_login_ok_failed_logout_and_lockout(app, client, monkeypatch):

    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_BASE_SECONDS", 0)  # lock without waiting

    assert login(client, "agent").status_code == 302
    [ok] = rows("login")
    assert ok.actor_name == "agent"
    assert ok.ip == "127.0.0.1"
    assert ok.entity_type == "ab_user"
    assert rows("update", "ab_user") == []  # login bookkeeping is not a separate row

    client.get("/logout/")
    [out] = rows("logout")
    assert out.actor_name == "agent"

    login(client, "agent", "wrong-password-123")
    [bad] = rows("login_failed")
    assert bad.actor_name == "agent"
    assert bad.changes == {"reason": "bad_password"}

    login(client, "nobody-here", "wrong-password-123")
    unknown = [r for r in rows("login_failed") if r.actor_name == "nobody-here"]
    assert len(unknown) == 1
    assert unknown[0].changes == {"reason": "unknown_user"}

    threshold = app.config["LOGIN_LOCKOUT_THRESHOLD"]
    for _ in range(threshold - 1):
        login(client, "agent", "wrong-password-123")
    [locked] = rows("account_locked")
    assert locked.ip == "127.0.0.1"
    assert locked.changes == {"scope": "source"}
    assert csrf_token_from(client.get("/login/").get_data(as_text=True))
    assert verify_chain().ok


def test_password_change_and_role_change_are_audited_without_values(app):
    sm = app.appbuilder.sm
    user = sm.find_user(username="agent2")
    with acting_as(Actor(1, "admin")):
        sm.reset_password(user.id, "another-long-password-1")
        [pw] = rows("password_changed", "ab_user")
        assert pw.changes == {"password": "[redacted]"}
        assert "pbkdf2" not in str(pw.changes)
        assert "scrypt" not in str(pw.changes)

        user = sm.find_user(username="agent2")
        user.roles.append(sm.find_role("Support Manager"))
        db.session.commit()
        [role] = rows("update", "ab_user")
        assert role.changes == {"roles": {"added": ["Support Manager"], "removed": []}}
        user.roles = [sm.find_role("Agent")]
        db.session.commit()
        sm.reset_password(user.id, "correct-horse-battery")


def test_orm_bulk_delete_and_update_record_counts(page):

    db.session.add_all([Contact(page=page, psid=str(i), first_name=f"N{i}") for i in range(5)])
    db.session.commit()
    db.session.execute(update(Contact).where(Contact.psid.in_(["1", "2"])).values(tags="x"))
    db.session.execute(delete(Contact).where(Contact.page_id == page.id))
    db.session.commit()
    [bu] = rows("bulk_update", "contact")
    assert bu.changes == {"count": 2, "fields": ["tags"]}
    [bd] = rows("bulk_delete", "contact")
    assert bd.changes == {"count": 5}
    assert verify_chain().ok


def test_high_volume_system_inserts_are_aggregated_per_flush(conversation):

    with acting_as(Actor(None, "worker")):
        db.session.add_all(
            [Message(conversation_id=conversation.id, direction="in", text=f"t{i}", mid=f"m{i}") for i in range(4)]
        )
        db.session.commit()
    [agg] = rows("insert", "message")
    assert agg.changes["count"] == 4
    assert len(agg.changes["ids"]) == 4
    assert "text" in agg.changes["fields"]
    assert agg.entity_id is None
    # A person's message is one row of its own.
    with acting_as(Actor(3, "agent")):
        db.session.add(Message(conversation_id=conversation.id, direction="out", text="hi", author_id=3))
        db.session.commit()
    assert len(rows("insert", "message")) == 2


def test_listener_can_be_disabled(page):

    with listeners.disabled():
        db.session.add(Contact(page=page, psid="99"))
        db.session.commit()
    assert rows("insert", "contact") == []


def test_job_rows_carry_the_enqueuing_users_actor_and_request(app, contact, jobs):

    meta = {"actor_id": 5, "actor_name": "manager", "request_id": "rq-77"}
    get_queue("default").enqueue(tag_contact_job, contact.id, meta=meta)
    jobs(("default",))
    [row] = rows("update", "contact")
    assert (row.actor_id, row.actor_name, row.request_id) == (5, "manager", "rq-77")
    assert row.changes == {"tags": "[redacted]"}  # personal: the name only


@task
def tag_contact_job(contact_id: int) -> None:
    """A job as the domains write them: the @task wrapper restores actor and request id."""

    db.session.get(Contact, contact_id).tags = "from-job"
    db.session.commit()


def test_signature_failures_are_counted_and_written_once_per_minute():
    t0 = datetime(2026, 1, 1, 12, 0, 5)
    for _ in range(50):
        service.record_signature_failure(t0)
    assert rows("webhook_signature_failed") == []  # the minute is still running
    service.record_signature_failure(datetime(2026, 1, 1, 12, 1, 0))  # next minute flushes the last
    [row] = rows("webhook_signature_failed")
    assert row.changes == {"count": 50, "minute": "2026-01-01T12:00"}
    assert service.flush_signature_failures(datetime(2026, 1, 1, 12, 5)) == 1
    assert [r.changes["count"] for r in rows("webhook_signature_failed")] == [50, 1]
    assert service.flush_signature_failures(datetime(2026, 1, 1, 12, 6)) == 0
    assert verify_chain().ok


def test_forged_webhook_requests_are_counted_not_logged_one_by_one(client):
    for _ in range(3):
        resp = client.post(
            "/webhooks/messenger", data=b'{"object":"page"}', headers={"X-Hub-Signature-256": "sha256=00"}
        )
        assert resp.status_code == 403
    assert rows("webhook_signature_failed") == []
    assert service.flush_signature_failures(include_current=True) == 1
    [row] = rows("webhook_signature_failed")
    assert row.changes["count"] == 3
