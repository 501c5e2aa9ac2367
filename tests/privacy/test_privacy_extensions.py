"""Jurisdictions and the one extension: month arithmetic, rules, API and view, requester told."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.core.models import utcnow
from app.mail.models import MailMessage
from app.privacy.deadlines import due_date, extended_due_date
from app.privacy.exceptions import PrivacyError
from app.privacy.extensions import do_extend
from app.privacy.models import PrivacyRequest
from app.privacy.requests import create_request
from tests.helpers import csrf_token_from, run_jobs

REASON = "We need to collect the messages from the archive of a second page."


def test_gdpr_month_arithmetic_31_january_plus_one_then_two_months():
    received = datetime(2027, 1, 31, 10, 0)
    first = due_date(received, "gdpr")
    assert first == datetime(2027, 2, 28, 10, 0)
    assert extended_due_date(first, "gdpr") == datetime(2027, 4, 28, 10, 0)
    # leap year
    assert due_date(datetime(2028, 1, 31), "gdpr") == datetime(2028, 2, 29)


def test_ccpa_is_45_days_plus_45():
    received = datetime(2027, 1, 31)
    first = due_date(received, "ccpa")
    assert first == datetime(2027, 3, 17)
    assert extended_due_date(first, "ccpa") == datetime(2027, 5, 1)


def test_the_page_default_applies_unless_the_request_names_one(contact):
    contact.page.default_jurisdiction = "ccpa"
    db.session.commit()
    req = create_request("access", contact)
    assert req.jurisdiction == "ccpa"
    assert (req.due_at - req.received_at) == timedelta(days=45)
    other = create_request("rectification", contact, jurisdiction="gdpr", details={"first_name": "Ada"})
    assert other.jurisdiction == "gdpr"
    with pytest.raises(PrivacyError, match="jurisdiction must be one of gdpr, ccpa"):
        create_request("restriction", contact, jurisdiction="lgpd")


def test_extension_once_before_the_deadline_with_a_reason(contact):
    req = create_request("access", contact)
    first_due = req.due_at
    with pytest.raises(PrivacyError, match="at least 10 characters"):
        do_extend(req, "busy")
    db.session.rollback()
    do_extend(req, REASON)
    assert req.original_due_at == first_due
    assert req.due_at == extended_due_date(first_due, "gdpr")
    assert req.extension_reason == REASON
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy_request_extended"))
    assert audit is not None
    assert REASON not in str(audit.changes)
    with pytest.raises(PrivacyError, match="already extended once"):
        do_extend(req, REASON)


def test_no_extension_after_the_deadline(contact):
    req = create_request("access", contact, received_at=utcnow() - timedelta(days=40))
    assert req.due_at < utcnow()
    with pytest.raises(PrivacyError, match="deadline has passed"):
        do_extend(req, REASON)


def test_closed_requests_cannot_be_extended(contact):
    req = create_request("access", contact)
    req.status = "complete"
    db.session.commit()
    with pytest.raises(PrivacyError, match="only open requests"):
        do_extend(req, REASON)


def test_api_extend_answers_and_refuses_with_reasons(client, api, contact):
    req = create_request("access", contact)
    url = f"/api/v1/privacy_request/{req.id}/extend"
    assert client.post(url, json={"reason": REASON}, headers=api("agent")).status_code == 403
    resp = client.post(url, json={}, headers=api("privacy"))
    assert resp.status_code == 400
    assert "reason" in resp.get_json()["message"]
    resp = client.post(url, json={"reason": REASON}, headers=api("privacy"))
    assert resp.status_code == 200
    assert resp.get_json()["result"]["extended_at"] is not None
    again = client.post(url, json={"reason": REASON}, headers=api("privacy"))
    assert again.status_code == 422
    assert "already extended" in again.get_json()["message"]
    assert (
        client.post(
            "/api/v1/privacy_request/999999/extend", json={"reason": REASON}, headers=api("privacy")
        ).status_code
        == 404
    )


def test_the_requester_is_told_why_by_mail(smtp, contact):
    req = create_request("access", contact, requester_email="ada@example.org")
    do_extend(req, REASON)
    run_jobs(("default",))
    subjects = [m["Subject"] for m in smtp.messages]
    assert subjects == [
        "We received your privacy request (a copy of your data)",
        "Your privacy request needs more time",
    ]
    text = smtp.texts()[1]
    assert REASON in text
    assert req.due_at.strftime("%d %B %Y") in text
    assert req.confirmation_code in text


def test_a_denial_and_a_completion_are_mailed(smtp, contact):
    req = create_request("marketing_opt_out", contact, requester_email="ada@example.org", requested_by_id=None)
    from app.privacy import decisions  # noqa: PLC0415 - only this test

    privacy_id = db.session.scalar(select(PrivacyRequest.id).where(PrivacyRequest.id == req.id))
    assert privacy_id == req.id
    user = db.session.execute(db.text("SELECT id FROM ab_user WHERE username = 'privacy'")).scalar()
    decisions.approve(req, user)
    run_jobs()
    denied = create_request("access", contact, requester_email="ada@example.org")
    decisions.deny(denied, user, "We could not confirm that you own this account.")
    run_jobs(("default",))
    subjects = [m["Subject"] for m in smtp.messages]
    assert "Your privacy request is complete" in subjects
    assert "Your privacy request was declined" in subjects
    assert any("could not confirm that you own this account" in t for t in smtp.texts())
    assert db.session.scalar(select(MailMessage.id).where(MailMessage.status != "sent")) is None


def test_view_extends_with_a_confirmation_form(login_as, contact):
    req = create_request("access", contact)
    client = login_as("privacy")
    page = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert "Extend the deadline (two months, once)" in page
    resp = client.post(
        f"/privacyrequestmodelview/extend/{req.id}", data={"reason": REASON, "csrf_token": csrf_token_from(page)}
    )
    assert resp.status_code == 302
    page = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert "extended" in page
    assert REASON in page
    assert "Extend the deadline" not in page


def test_a_staff_request_never_messages_the_contact_but_a_messenger_request_does(contact, conversation):
    from app.conversations.models import Message  # noqa: PLC0415 - only this test

    create_request("erasure", contact)
    assert db.session.scalar(select(Message.id)) is None
    from app.privacy.notices import Notice, notify_requester  # noqa: PLC0415 - only this test

    # a Messenger request's "received" notice is queued after its webhook batch (self_service)
    notify_requester(create_request("access", contact, source="messenger"), Notice.RECEIVED)
    texts = [m.text for m in db.session.scalars(select(Message)).all()]
    assert len(texts) == 1
    assert texts[0].startswith("Hello,")
    assert "We will answer by" in texts[0]


def test_an_operator_template_replaces_the_shipped_text(app, smtp, contact, tmp_path, monkeypatch):
    (tmp_path / "received.txt").write_text("Got it, {{ company }}\nDue {{ due }}. Ask {{ contact_email }}.\n")
    monkeypatch.setitem(app.config, "NOTICE_TEMPLATE_DIR", str(tmp_path))
    monkeypatch.setitem(app.config, "COMPANY_NAME", "Acme Bikes")
    create_request("access", contact, requester_email="ada@example.org")
    run_jobs(("default",))
    assert smtp.messages[0]["Subject"] == "Got it, Acme Bikes"
    assert "Ask privacy@" in smtp.texts()[0]
