"""Mail goes through a real SMTP server: queued durably, sent by the worker's job, retried,
audited without bodies; the embedded server keeps it (encrypted) for Admin -> Outbox."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.core.models import utcnow
from app.mail import embedded, sending
from app.mail.exceptions import MailError
from app.mail.models import MailMessage, MailStatus
from app.mail.services import queue_mail
from tests.helpers import redis_unreachable, run_jobs


def _queue(to: str = "ada@example.org", subject: str = "Your request", body: str = "Code: 123456") -> int:
    row = queue_mail(to, subject, body, kind="verification_code")
    db.session.commit()
    return row.id


def test_a_queued_mail_reaches_the_smtp_server_through_the_worker(smtp):
    mail_id = _queue()
    assert run_jobs(("default",)) >= 1
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["To"] == "ada@example.org"
    assert msg["Subject"] == "Your request"
    assert msg["Message-ID"] == f"<omnicrm-mail-{mail_id}@omnicrm.local>"
    assert smtp.texts()[0].strip() == "Code: 123456"
    row = db.session.get(MailMessage, mail_id)
    db.session.refresh(row)
    assert row.status == MailStatus.SENT
    assert row.attempts == 1
    assert row.sent_at is not None


def test_audit_names_the_kind_but_never_the_address_or_body(smtp):
    mail_id = _queue(body="secret code 987654")
    run_jobs(("default",))
    audit = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "mail_message")).all()
    actions = [a.action for a in audit]
    assert actions.index("mail_queued") < actions.index("mail_sent")
    dumped = json.dumps([a.changes for a in audit])
    assert "987654" not in dumped
    assert "ada@example.org" not in dumped
    assert "Your request" not in dumped
    assert {str(a.entity_id) for a in audit if a.action.startswith("mail_")} == {str(mail_id)}


def test_address_subject_and_body_are_encrypted_at_rest():
    _queue(to="grace@example.org", subject="Hello Grace", body="the body text")
    with db.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT to_address, subject, body FROM mail_message").one()
    assert "grace@example.org" not in raw[0]
    assert "Hello Grace" not in raw[1]
    assert "the body text" not in raw[2]


@pytest.mark.parametrize(
    ("to", "subject", "reason"),
    [
        ("ada@example.org\r\nBcc: eve@example.org", "Hi", "not a valid e-mail address"),
        ("Ada <ada@example.org>", "Hi", "not a valid e-mail address"),
        ("ada@example.org, eve@example.org", "Hi", "not a valid e-mail address"),
        ("ada@example.org", "Hi\r\nBcc: eve@example.org", "one line"),
        ("ada@example.org", "x" * 201, "longer than 200"),
        ("", "Hi", "address is required"),
    ],
)
def test_header_injection_and_bad_addresses_are_refused_before_anything_is_stored(to, subject, reason):
    with pytest.raises(MailError, match=reason):
        queue_mail(to, subject, "body", kind="test")
    db.session.rollback()
    assert db.session.scalar(select(MailMessage.id)) is None


def test_a_temporary_failure_is_retried_later_and_then_sent(app, smtp):
    smtp.reply = "451 4.3.0 try again later"
    mail_id = _queue()
    run_jobs(("default",))
    row = db.session.get(MailMessage, mail_id)
    db.session.refresh(row)
    assert row.status == MailStatus.QUEUED
    assert row.attempts == 1
    assert "451" in row.error
    assert row.next_attempt_at > utcnow() + timedelta(seconds=20)
    # not due yet: the drain leaves it alone
    assert sending.send_pending() == (0, 0)
    smtp.reply = None
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert sending.send_pending() == (1, 1)
    assert len(smtp.messages) == 1


def test_a_permanent_refusal_fails_at_once_and_an_admin_can_send_it_again(login_as, smtp):
    smtp.reply = "550 5.1.1 no such user"
    mail_id = _queue()
    run_jobs(("default",))
    row = db.session.get(MailMessage, mail_id)
    db.session.refresh(row)
    assert row.status == MailStatus.FAILED
    assert row.attempts == 1
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "mail_failed")) == "mail_failed"
    smtp.reply = None
    client = login_as("admin")
    resp = client.post(f"/admin/outbox/{mail_id}/resend", data={"csrf_token": _csrf(client, mail_id)})
    assert resp.status_code == 303
    run_jobs(("default",))
    db.session.refresh(row)
    assert row.status == MailStatus.SENT
    assert len(smtp.messages) == 1


def test_unreachable_server_retries_until_the_last_try_then_fails(app):
    old = app.config["MAIL_SERVER"], app.config["MAIL_PORT"]
    app.config["MAIL_SERVER"], app.config["MAIL_PORT"] = "127.0.0.1", 1  # nothing listens
    try:
        mail_id = _queue()
        for _ in range(sending.MAX_ATTEMPTS):
            db.session.execute(MailMessage.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1)))
            db.session.commit()
            sending.send_pending()
        row = db.session.get(MailMessage, mail_id)
        db.session.refresh(row)
        assert row.status == MailStatus.FAILED
        assert row.attempts == sending.MAX_ATTEMPTS
        assert "ConnectionRefusedError" in row.error
    finally:
        app.config["MAIL_SERVER"], app.config["MAIL_PORT"] = old


def test_mail_queued_while_redis_is_down_is_sent_by_the_scheduled_sweep(app, smtp):
    with redis_unreachable(app):
        mail_id = _queue()
    assert db.session.get(MailMessage, mail_id).status == MailStatus.QUEUED
    assert run_jobs(("default",)) == 0  # nothing was queued in Redis
    from app.core.scheduler import run_scheduled_job  # noqa: PLC0415 - only this test

    run_scheduled_job("send_mail", "test-slot")
    assert len(smtp.messages) == 1


def test_a_claim_left_by_a_killed_worker_is_released_and_sent(smtp):
    mail_id = _queue()
    db.session.execute(
        MailMessage.__table__.update().values(status=MailStatus.SENDING, claimed_at=utcnow() - timedelta(minutes=11))
    )
    db.session.commit()
    assert sending.send_pending() == (1, 1)
    assert db.session.get(MailMessage, mail_id) is not None
    assert len(smtp.messages) == 1


def test_embedded_server_keeps_the_mail_encrypted_and_the_outbox_shows_it(app, login_as, tmp_path):
    old = app.config["MAIL_SERVER"], app.config["MAIL_STORE_DIR"]
    app.config["MAIL_SERVER"], app.config["MAIL_STORE_DIR"] = "", str(tmp_path / "mail")
    try:
        mail_id = _queue(body="Your code is 424242 <b>bold</b>")
        run_jobs(("default",))
        files = os.listdir(tmp_path / "mail")
        assert len(files) == 1
        assert files[0].endswith(embedded.SUFFIX)
        assert b"424242" not in (tmp_path / "mail" / files[0]).read_bytes()
        client = login_as("admin")
        listing = client.get("/admin/outbox/")
        assert listing.status_code == 200
        assert "Your request" in listing.get_data(as_text=True)
        page = client.get(f"/admin/outbox/{mail_id}").get_data(as_text=True)
        assert "Your code is 424242 &lt;b&gt;bold&lt;/b&gt;" in page
    finally:
        app.config["MAIL_SERVER"], app.config["MAIL_STORE_DIR"] = old
        embedded.stop_all()


def test_with_a_real_server_the_outbox_shows_status_but_not_the_text(login_as, smtp):
    mail_id = _queue(body="code 555111")
    run_jobs(("default",))
    page = login_as("admin").get(f"/admin/outbox/{mail_id}").get_data(as_text=True)
    assert "sent" in page
    assert "555111" not in page


@pytest.mark.parametrize("user", ["manager", "agent", "privacy"])
def test_only_admins_reach_the_outbox(login_as, user):
    assert login_as(user).get("/admin/outbox/").status_code == 403


def _csrf(client, mail_id: int) -> str:
    from tests.helpers import csrf_token_from  # noqa: PLC0415 - only this helper

    return csrf_token_from(client.get(f"/admin/outbox/{mail_id}").get_data(as_text=True))


def test_doctor_reports_the_mail_server(app, smtp, monkeypatch):
    from app.ops.doctor import check_mail  # noqa: PLC0415 - only these tests

    assert check_mail().ok is True
    smtp.stop()
    result = check_mail()
    assert result.ok is False
    assert "MAIL_SERVER" in result.detail
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    monkeypatch.setitem(app.config, "OMNICRM_ENV", "production")
    result = check_mail()
    assert result.ok is False
    assert "not set" in result.detail
