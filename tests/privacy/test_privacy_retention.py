"""Retention boundaries, legal hold, the CLI command, and the public policy pages."""

from __future__ import annotations

import json
from datetime import timedelta

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core import crypto
from app.core.models import utcnow
from app.pages.models import Page
from app.privacy import retention
from app.privacy.public import render_markdown
from app.webhooks.models import WebhookEvent


def _msg(conv: Conversation, created, body: str) -> int:
    m = Message(conversation_id=conv.id, direction="in", text=body, status="received", created_at=created)
    db.session.add(m)
    db.session.commit()
    return m.id


def _event(page_fb_id: str, psid: str, received) -> int:
    ev = WebhookEvent(
        payload=json.dumps({"object": "page"}),
        status="processed",
        page_fb_id=page_fb_id,
        psid_hashes=f"|{crypto.keyed_hash(psid)}|",
        received_at=received,
    )
    db.session.add(ev)
    db.session.commit()
    return ev.id


def test_retention_boundary_is_exact(page, contact, conversation):
    page.retention_days = 30
    db.session.commit()
    now = utcnow()
    cutoff = now - timedelta(days=30)
    at_limit = _msg(conversation, cutoff, "exactly at the limit")
    older = _msg(conversation, cutoff - timedelta(seconds=1), "one second too old")
    newer = _msg(conversation, cutoff + timedelta(seconds=1), "fresh")
    ev_old = _event(page.fb_page_id, contact.psid, cutoff - timedelta(seconds=1))
    ev_limit = _event(page.fb_page_id, contact.psid, cutoff)
    report = retention.run_retention(now)
    assert report.per_page["Test Page"] == {"messages": 1, "webhook_events": 1, "retention_days": 30}
    assert db.session.get(Message, older) is None
    assert db.session.get(Message, at_limit) is not None
    assert db.session.get(Message, newer) is not None
    assert db.session.get(WebhookEvent, ev_old) is None
    assert db.session.get(WebhookEvent, ev_limit) is not None


def test_retention_default_365_days(page, conversation):
    now = utcnow()
    kept = _msg(conversation, now - timedelta(days=364), "kept")
    gone = _msg(conversation, now - timedelta(days=366), "gone")
    retention.run_retention(now)
    assert db.session.get(Message, kept) is not None
    assert db.session.get(Message, gone) is None


def test_legal_hold_stops_retention(page, contact, conversation):
    contact.legal_hold = True
    db.session.commit()
    now = utcnow()
    old = _msg(conversation, now - timedelta(days=900), "held")
    ev = _event(page.fb_page_id, contact.psid, now - timedelta(days=900))
    other = Contact(page=page, psid="123123", first_name="Other")
    db.session.add(other)
    db.session.commit()
    other_ev = _event(page.fb_page_id, "123123", now - timedelta(days=900))
    report = retention.run_retention(now)
    assert report.per_page["Test Page"]["messages"] == 0
    assert db.session.get(Message, old) is not None
    assert db.session.get(WebhookEvent, ev) is not None
    assert db.session.get(WebhookEvent, other_ev) is None


def test_legal_hold_keeps_erased_leftovers(page, contact, conversation):
    contact.erased_at = utcnow()
    contact.psid_hash = crypto.keyed_hash(contact.psid)
    contact.legal_hold = True
    db.session.commit()
    mid = _msg(conversation, utcnow(), "under hold")
    conv_id = conversation.id
    retention.run_retention()
    assert db.session.get(Message, mid) is not None
    contact.legal_hold = False
    db.session.commit()
    retention.run_retention()
    assert db.session.get(Message, mid) is None
    assert db.session.get(Conversation, conv_id) is None
    assert db.session.get(Contact, contact.id).psid is None


def test_retention_command_prints_per_page(app, page, conversation):
    _msg(conversation, utcnow() - timedelta(days=400), "old")
    result = app.test_cli_runner().invoke(args=["omnicrm", "retention", "run"])
    assert result.exit_code == 0, result.output
    assert "page Test Page: 1 messages, 0 webhook events removed (older than 365 days)" in result.output
    assert "expired export files: 0 removed" in result.output


def test_privacy_policy_page(client, app):
    app.config.update(
        PRIVACY_CONTACT_EMAIL="dpo@example.org",
        COMPANY_ADDRESS="1 <Main> Street",
        PUBLIC_BASE_URL="https://crm.example.org",
    )
    try:
        resp = client.get("/privacy")
    finally:
        app.config.update(
            PRIVACY_CONTACT_EMAIL="privacy@omnicrm.com",
            COMPANY_ADDRESS="",
            PUBLIC_BASE_URL="http://127.0.0.1:5000",
        )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<h1>Privacy Policy</h1>" in html
    assert "<h2>8. Data Retention</h2>" in html
    assert "dpo@example.org" in html
    assert "privacy@omnicrm.com" not in html
    assert "<strong>Website:</strong> https://crm.example.org" in html
    assert "ngrok" not in html
    assert "1 &lt;Main&gt; Street" in html
    assert "<Main>" not in html
    assert "November 29, 2024" not in html  # the shipped file's stale date is replaced
    assert "Last updated: " in html
    assert "<li><strong>Deletion</strong>: Request deletion of your personal data</li>" in html
    login = client.get("/login/").get_data(as_text=True)
    assert 'href="/privacy"' in login
    assert 'href="/privacy/data-deletion"' in login
    instructions = client.get("/privacy/data-deletion")
    assert instructions.status_code == 200
    assert "Delete your data" in instructions.get_data(as_text=True)


def test_markdown_renderer_escapes():

    html = str(render_markdown("# T <script>\n\n- **b** <img src=x>\n\npara & more"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x&gt;" in html
    assert "<li><strong>b</strong>" in html
    assert "<p>para &amp; more</p>" in html


# --------------------------------------------------------------------------- raw events of no single page


def _raw(page_fb_id: str | None, days_old: float, now, psid: str = "900100") -> int:
    ev = WebhookEvent(
        payload=json.dumps({"object": "page", "secret": "message body"}),
        status="processed",
        page_fb_id=page_fb_id,
        psid_hashes=f"|{crypto.keyed_hash(psid)}|",
        received_at=now - timedelta(days=days_old),
    )
    db.session.add(ev)
    db.session.commit()
    return ev.id


def _alive(*ids: int) -> list[bool]:
    db.session.expire_all()
    return [db.session.get(WebhookEvent, i) is not None for i in ids]


def _second_page(fb_page_id: str = "222", retention_days: int = 90):

    other = Page(fb_page_id=fb_page_id, name="Second Page", retention_days=retention_days)
    db.session.add(other)
    db.session.commit()
    return other


def test_multi_page_event_follows_the_longest_retention(page):
    page.retention_days = 30
    db.session.commit()
    _second_page("222", 90)
    now = utcnow()
    both = f"{page.fb_page_id},222"
    kept = _raw(both, 60, now)  # older than page 1's 30 days, younger than page 2's 90
    gone = _raw(both, 91, now)
    with_unknown = _raw(f"{page.fb_page_id},999", 31, now)  # connected page's 30 days apply
    report = retention.run_retention(now)
    assert _alive(kept, gone, with_unknown) == [True, False, False]
    assert report.other_webhook_events == 2
    assert report.per_page["Test Page"]["webhook_events"] == 0


def test_unknown_page_and_no_page_follow_raw_event_retention(app, page):
    now = utcnow()
    unknown_old, unknown_new = _raw("555", 31, now), _raw("555", 29, now)
    none_old, none_new = _raw(None, 31, now), _raw(None, 29, now)
    unknowns_old = _raw("555,666", 31, now)
    report = retention.run_retention(now)
    assert _alive(unknown_old, unknown_new, none_old, none_new, unknowns_old) == [False, True, False, True, False]
    assert report.other_webhook_events == 3
    app.config["RAW_EVENT_RETENTION_DAYS"] = 7
    try:
        retention.run_retention(now)
    finally:
        app.config["RAW_EVENT_RETENTION_DAYS"] = 30
    assert _alive(unknown_new, none_new) == [False, False]


def test_raw_events_without_any_page_connected(app):
    now = utcnow()
    old, new = _raw("123", 45, now), _raw(None, 5, now)
    retention.run_retention(now)
    assert _alive(old, new) == [False, True]


def test_legal_hold_keeps_raw_events_of_other_kinds(page, contact):
    contact.legal_hold = True
    db.session.commit()
    now = utcnow()
    held = [_raw(v, 400, now, psid=contact.psid) for v in ("555", None, f"{page.fb_page_id},555")]
    free = _raw("555", 400, now)
    retention.run_retention(now)
    assert _alive(*held, free) == [True, True, True, False]


def test_erased_leftovers_keep_the_fresh_contacts_events(page, contact):
    psid = contact.psid
    before = _raw(page.fb_page_id, 2, utcnow(), psid=psid)
    after = _raw(page.fb_page_id, 0.5, utcnow(), psid=psid)
    contact.psid_hash = crypto.keyed_hash(psid)
    contact.psid = None
    contact.erased_at = utcnow() - timedelta(days=1)
    db.session.commit()
    retention.run_retention()  # no fresh contact: everything mentioning the hash goes
    assert _alive(before, after) == [False, False]
    before = _raw(page.fb_page_id, 2, utcnow(), psid=psid)
    after = _raw(page.fb_page_id, 0.5, utcnow(), psid=psid)
    db.session.add(Contact(page=page, psid=psid, psid_hash=crypto.keyed_hash(psid)))  # they wrote again
    db.session.commit()
    retention.run_retention()
    assert _alive(before, after) == [False, True]


def test_retention_command_reports_other_raw_events(app, page):
    _raw(None, 400, utcnow())
    result = app.test_cli_runner().invoke(args=["omnicrm", "retention", "run"])
    assert result.exit_code == 0, result.output
    assert "webhook events of several pages, unknown pages or none: 1 removed" in result.output
