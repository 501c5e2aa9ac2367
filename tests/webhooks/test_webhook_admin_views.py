"""Raw webhook events are read-only in the admin UI; the payload is revealed only with an
audited reason."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app import db
from app.audit.models import AuditLog
from app.webhooks.models import EventStatus, WebhookEvent
from tests.helpers import csrf_token_from, login

SECRET_TEXT = "my card number is 4111"


@pytest.fixture
def event():
    payload = {"object": "page", "entry": [{"id": "1", "messaging": [{"message": {"text": SECRET_TEXT}}]}]}
    ev = WebhookEvent(payload=json.dumps(payload), status=EventStatus.PROCESSED, summary="message")
    db.session.add(ev)
    db.session.commit()
    return ev


@pytest.fixture
def admin(app):
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    return client


def test_events_cannot_be_added_or_edited(admin, event):
    csrf = csrf_token_from(admin.get("/resetmypassword/form").get_data(as_text=True))
    assert admin.get("/webhookeventmodelview/add").status_code == 403
    assert admin.get(f"/webhookeventmodelview/edit/{event.id}").status_code == 403
    forged = {"payload": '{"object": "page", "entry": []}', "status": "pending", "csrf_token": csrf}
    assert admin.post("/webhookeventmodelview/add", data=forged).status_code == 403
    assert admin.post(f"/webhookeventmodelview/edit/{event.id}", data=forged).status_code == 403
    assert admin.post(f"/webhookeventmodelview/delete/{event.id}", data={"csrf_token": csrf}).status_code == 403
    assert db.session.query(WebhookEvent).count() == 1
    listing = admin.get("/webhookeventmodelview/list/").get_data(as_text=True)
    assert "/webhookeventmodelview/add" not in listing
    assert f"/webhookeventmodelview/edit/{event.id}" not in listing


def test_show_has_no_decrypted_payload(admin, event):
    resp = admin.get(f"/webhookeventmodelview/show/{event.id}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert SECRET_TEXT not in html
    assert "Reveal payload" in html


def test_reveal_needs_a_reason_and_is_audited(admin, event):
    form = admin.get(f"/webhookeventmodelview/reveal/{event.id}")
    assert form.status_code == 200
    assert SECRET_TEXT not in form.get_data(as_text=True)
    csrf = csrf_token_from(form.get_data(as_text=True))
    refused = admin.post(f"/webhookeventmodelview/reveal/{event.id}", data={"reason": "why", "csrf_token": csrf})
    assert refused.status_code == 302
    assert SECRET_TEXT not in refused.get_data(as_text=True)
    assert db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "webhook_payload_revealed")).all() == []

    reason = "ticket 4411: the event failed to parse"
    shown = admin.post(f"/webhookeventmodelview/reveal/{event.id}", data={"reason": reason, "csrf_token": csrf})
    assert shown.status_code == 200
    assert SECRET_TEXT in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "webhook_payload_revealed")).all()
    assert [(r.entity_id, r.actor_name, r.changes["reason"]) for r in rows] == [(str(event.id), "admin", reason)]


def test_reveal_without_csrf_is_refused(admin, event):
    resp = admin.post(f"/webhookeventmodelview/reveal/{event.id}", data={"reason": "a long enough reason"})
    assert resp.status_code == 400


@pytest.mark.parametrize("username", ["manager", "agent", "privacy"])
def test_others_cannot_reveal(app, event, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    assert client.get(f"/webhookeventmodelview/reveal/{event.id}").status_code == 403
