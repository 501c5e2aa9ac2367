"""Erasure end to end through the real webhook route, then a late retry of an old event."""

from __future__ import annotations

import json
import time

from test_privacy_data import _scan

from app import db
from app.contacts.models import Contact
from app.conversations.models import Message
from app.privacy import decisions, requests
from app.privacy.models import PrivacyRequest
from app.webhooks.ingest import sign
from app.webhooks.models import WebhookEvent

PSID = "6100200300400"


def event_body(page_fb_id: str, mid: str, text: str) -> bytes:
    now = int(time.time() * 1000)
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": page_fb_id,
                    "time": now,
                    "messaging": [
                        {
                            "sender": {"id": PSID},
                            "recipient": {"id": page_fb_id},
                            "timestamp": now,
                            "message": {"mid": mid, "text": text},
                        }
                    ],
                }
            ],
        }
    ).encode()


def post(client, app, body: bytes):
    return client.post(
        "/webhooks/messenger",
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app.config["FB_APP_SECRET"])},
    )


def test_erasure_through_webhooks_and_late_retry(client, app, page, fakegraph, jobs):
    texts = ["first secret words 9137", "second secret words 2468"]
    bodies = [event_body(page.fb_page_id, f"mid.e2e.{i}", t) for i, t in enumerate(texts)]
    for body in bodies:
        assert post(client, app, body).status_code == 200
    jobs()
    contact = db.session.query(Contact).filter_by(psid=PSID).one()
    assert db.session.query(Message).count() == 2
    assert _scan([PSID, *texts])

    po = app.appbuilder.sm.find_user(username="privacy").id
    req = requests.create_request("erasure", contact, requested_by_id=app.appbuilder.sm.find_user(username="agent").id)
    decisions.approve(req, po)
    jobs()
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).status == "complete"
    assert _scan([PSID, *texts]) == []
    assert db.session.query(WebhookEvent).count() == 0

    # Meta retries an old event after the erasure: nothing comes back, not even the raw row
    assert post(client, app, bodies[0]).status_code == 200
    jobs()
    db.session.expire_all()
    assert db.session.query(Contact).count() == 1
    assert db.session.query(Message).count() == 0
    assert db.session.query(WebhookEvent).count() == 0
    assert _scan([PSID, *texts]) == []
