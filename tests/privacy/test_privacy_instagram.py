"""Privacy for Instagram contacts: export, erasure (IGSID, messages, raw events), late retries,
Meta's data-deletion callback and retention, exactly like Messenger contacts."""

from __future__ import annotations

import json
from datetime import timedelta

from test_privacy_callback import signed
from test_privacy_data import _scan, open_export, run

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core import crypto
from app.core.models import utcnow
from app.privacy import requests, retention
from app.privacy.models import PrivacyRequest
from app.webhooks.ingest import sign
from app.webhooks.models import WebhookEvent
from tests.helpers import instagram_conversation, uid

IG_ID = "17841400000000001"
IGSID = "1188776655443322"
TEXTS = ["my ig secret 5521", "story reply secret 8830"]


def _ig_body(mid: str, **message) -> bytes:
    now = int(utcnow().timestamp() * 1000)
    item = {"sender": {"id": IGSID}, "recipient": {"id": IG_ID}, "timestamp": now, "message": {"mid": mid, **message}}
    return json.dumps({"object": "instagram", "entry": [{"id": IG_ID, "time": now, "messaging": [item]}]}).encode()


def _post(client, app, body: bytes):
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app.config["FB_APP_SECRET"])}
    return client.post("/webhooks/messenger", data=body, headers=headers)


def _receive(client, app, page, jobs) -> tuple[Contact, list[bytes]]:
    page.ig_account_id = IG_ID
    db.session.commit()
    story = {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=77", "id": "1790"}
    bodies = [
        _ig_body("m_ig_p1", text=TEXTS[0]),
        _ig_body("m_ig_p2", text=TEXTS[1], reply_to={"story": story}),
    ]
    for body in bodies:
        assert _post(client, app, body).status_code == 200
    jobs(("webhooks",))
    contact = db.session.query(Contact).filter_by(psid=IGSID).one()
    contact.username = "secret.handle"
    db.session.commit()
    return contact, bodies


def test_export_includes_the_instagram_conversation(client, app, page, jobs):
    contact, _ = _receive(client, app, page, jobs)
    req = run(requests.create_request("access", contact, requested_by_id=uid("agent")), jobs)
    assert req.status == "complete"
    zf = open_export(req)
    doc = json.loads(zf.read("contact.json"))
    assert (doc["psid"], doc["channel"], doc["username"]) == (IGSID, "instagram", "secret.handle")
    messages = json.loads(zf.read("messages.json"))
    assert [m["text"] for m in messages] == TEXTS
    assert messages[1]["kind"] == "story_reply"
    assert "Instagram" in zf.read("README.txt").decode()


def test_erasure_removes_igsid_messages_raw_events_and_discards_late_retries(client, app, page, jobs):
    contact, bodies = _receive(client, app, page, jobs)
    assert _scan([IGSID, "secret.handle", *TEXTS])
    req = run(requests.create_request("erasure", contact, requested_by_id=uid("agent")), jobs)
    assert req.status == "complete"
    for secret in (IGSID, "secret.handle", *TEXTS):
        assert _scan([secret]) == [], secret
    assert db.session.query(WebhookEvent).count() == 0
    assert db.session.query(Message).count() == 0
    tomb = db.session.get(Contact, contact.id)
    assert (tomb.psid, tomb.username, tomb.psid_hash) == (None, None, crypto.keyed_hash(IGSID))
    # Meta retries an old Instagram delivery: discarded by the keyed hash, raw row included
    assert _post(client, app, bodies[0]).status_code == 200
    jobs(("webhooks",))
    db.session.expire_all()
    assert db.session.query(Contact).count() == 1
    assert db.session.query(Message).count() == 0
    assert db.session.query(WebhookEvent).count() == 0
    assert _scan([IGSID, *TEXTS]) == []


def _callback(client, app, user_id: str):
    payload = {"algorithm": "HMAC-SHA256", "user_id": user_id, "issued_at": int(utcnow().timestamp())}
    return client.post(
        "/privacy/facebook/data-deletion", data={"signed_request": signed(payload, app.config["FB_APP_SECRET"])}
    )


def test_data_deletion_callback_finds_the_instagram_contact_by_its_scoped_id(client, app, page, fakegraph):
    conv = instagram_conversation(page, igsid=IGSID)
    fakegraph.control({"action": "set_ids_for_pages", "asid": IGSID, "data": []})
    resp = _callback(client, app, IGSID)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    req = db.session.query(PrivacyRequest).one()
    assert (req.request_type, req.contact_id, req.source) == ("erasure", conv.contact_id, "meta_callback")


def test_data_deletion_callback_finds_instagram_contacts_listed_by_ids_for_pages(client, app, page, fakegraph):
    conv = instagram_conversation(page, igsid=IGSID)
    data = [{"id": IGSID, "page": {"id": page.fb_page_id, "name": "Test Page"}}]
    fakegraph.control({"action": "set_ids_for_pages", "asid": "55501", "data": data})
    resp = _callback(client, app, "55501")
    assert resp.status_code == 200
    assert db.session.query(PrivacyRequest).one().contact_id == conv.contact_id


def _raw_ig(days_old: float, now) -> int:
    ev = WebhookEvent(
        payload=json.dumps({"object": "instagram", "secret": "message body"}),
        status="processed",
        page_fb_id=IG_ID,
        psid_hashes=f"|{crypto.keyed_hash(IGSID)}|",
        received_at=now - timedelta(days=days_old),
    )
    db.session.add(ev)
    db.session.commit()
    return ev.id


def test_retention_covers_instagram_messages_and_raw_events(page):
    page.retention_days = 90
    conv = instagram_conversation(page, igsid=IGSID, ig_id=IG_ID)
    now = utcnow()
    for text, days in (("old", 91), ("new", 89)):
        db.session.add(
            Message(
                conversation_id=conv.id, direction="in", text=text, status="received", created_at=now - timedelta(days)
            )
        )
    db.session.commit()
    # the raw events of the linked Instagram account follow the page's 90 days, not the 30 for unknown pages
    kept, gone = _raw_ig(60, now), _raw_ig(91, now)
    report = retention.run_retention(now)
    db.session.expire_all()
    assert [db.session.get(WebhookEvent, i) is not None for i in (kept, gone)] == [True, False]
    assert [m.text for m in db.session.query(Message).all()] == ["new"]
    assert report.per_page["Test Page"]["webhook_events"] == 1
    assert db.session.get(Conversation, conv.id) is not None
