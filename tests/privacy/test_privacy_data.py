"""Access export contents and erasure completeness (nothing of the contact is left)."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import text

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core import crypto
from app.core.models import utcnow
from app.privacy import decisions, export, export_file, requests, retention
from app.privacy.exceptions import PrivacyError
from app.privacy.models import PrivacyRequest
from app.webhooks.models import WebhookEvent
from tests.helpers import uid

PSID = "7001002003"
TEXTS = ['=HYPERLINK("http://evil")', "+41 79 123 45 67", "-minus start", "@SUM(A1)", "my secret diagnosis 4711"]


def add_messages(conversation: Conversation, texts: list[str]) -> None:
    now = utcnow()
    for i, body in enumerate(texts):
        db.session.add(
            Message(
                conversation_id=conversation.id,
                mid=f"m_{conversation.id}_{i}",
                direction="in" if i % 2 == 0 else "out",
                text=body,
                attachments=[{"type": "image", "url": f"https://cdn.example/{PSID}/{i}.jpg"}] if i == 0 else None,
                status="received",
                created_at=now - timedelta(minutes=len(texts) - i),
            )
        )
    db.session.commit()


def add_event(page_fb_id: str, psid: str, body: str) -> WebhookEvent:
    payload = {
        "object": "page",
        "entry": [{"id": page_fb_id, "messaging": [{"sender": {"id": psid}, "message": {"mid": "x", "text": body}}]}],
    }
    ev = WebhookEvent(
        payload=json.dumps(payload),
        status="processed",
        page_fb_id=page_fb_id,
        psid_hashes=f"|{crypto.keyed_hash(psid)}|",
        summary="message",
    )
    db.session.add(ev)
    db.session.commit()
    return ev


def run(req: PrivacyRequest, jobs) -> PrivacyRequest:
    decisions.approve(req, uid("privacy"))
    jobs(("privacy",))
    db.session.expire_all()
    return db.session.get(PrivacyRequest, req.id)


def open_export(req: PrivacyRequest) -> zipfile.ZipFile:
    raw = b"".join(export_file.decrypt_file(req.export_path))
    return zipfile.ZipFile(io.BytesIO(raw))


def test_export_contents_and_csv_guard(contact, conversation, jobs):
    add_messages(conversation, TEXTS)
    req = run(requests.create_request("access", contact, requested_by_id=uid("agent")), jobs)
    assert req.status == "complete"
    assert req.export_path
    assert os.path.exists(req.export_path)
    assert timedelta(days=6, hours=23) < req.export_expires_at - utcnow() <= timedelta(days=7)
    with open(req.export_path, "rb") as fh:
        stored = fh.read()
    assert b"PK" not in stored[:20]
    assert PSID.encode() not in stored
    assert b"diagnosis" not in stored
    zf = open_export(req)
    assert sorted(zf.namelist()) == ["README.txt", "contact.json", "messages.csv", "messages.json"]
    contact_doc = json.loads(zf.read("contact.json"))
    assert (contact_doc["psid"], contact_doc["first_name"], contact_doc["last_name"]) == (PSID, "Ada", "Lovelace")
    messages = json.loads(zf.read("messages.json"))
    assert [m["text"] for m in messages] == TEXTS
    assert messages[0]["attachments"][0]["type"] == "image"
    rows = list(csv.DictReader(io.StringIO(zf.read("messages.csv").decode("utf-8"))))
    assert [r["text"] for r in rows] == ["'" + t if t[0] in "=+-@" else t for t in TEXTS]
    readme = zf.read("README.txt").decode()
    for word in ("contact.json", "messages.json", "messages.csv", "Purposes", "Retention", "365 days"):
        assert word in readme


def test_export_download_roles_expiry_and_purge(login_as, client, contact, conversation, jobs):
    add_messages(conversation, TEXTS[:2])
    req = run(requests.create_request("access", contact, requested_by_id=uid("agent")), jobs)
    agent = login_as("agent")
    assert agent.get(f"/privacyrequestmodelview/export/{req.id}").status_code == 403
    client.get("/logout/")
    po = login_as("privacy")
    resp = po.get(f"/privacyrequestmodelview/export/{req.id}")
    assert resp.status_code == 200
    assert resp.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(resp.get_data())).read("contact.json")
    # expired link: refused, then the file is purged
    req.export_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    resp = po.get(f"/privacyrequestmodelview/export/{req.id}")
    assert resp.status_code == 302
    path = req.export_path
    assert export.purge_expired_exports() == 1
    assert not os.path.exists(path)
    assert db.session.get(PrivacyRequest, req.id).export_path is None


def _scan(secrets: list[str]) -> list[str]:
    """Every column of every row of the data tables, decrypted where encrypted."""
    hits = []
    for table in ("contact", "conversation", "message", "webhook_event", "privacy_request", "audit_log"):
        for row in db.session.execute(text(f"SELECT * FROM {table}")).mappings():
            for column, value in row.items():
                if value is None:
                    continue
                value = str(value)
                candidates = [value]
                if value.startswith("gAAAA"):
                    candidates.append(crypto.decrypt(value))
                for cand in candidates:
                    for secret in secrets:
                        if secret in cand:
                            hits.append(f"{table}.{column}")
    return hits


def test_erasure_leaves_nothing(contact, conversation, page, jobs):
    add_messages(conversation, TEXTS)
    add_event(page.fb_page_id, PSID, TEXTS[-1])
    add_event(page.fb_page_id, PSID, "second event")
    # another contact on the same page keeps everything
    other = Contact(page=page, psid="9990001112", first_name="Grace", last_name="Hopper")
    db.session.add(other)
    db.session.commit()
    other_conv = Conversation(page_id=page.id, contact_id=other.id, status="open")
    db.session.add(other_conv)
    db.session.commit()
    db.session.add(Message(conversation_id=other_conv.id, direction="in", text="grace's message", status="received"))
    db.session.commit()
    other_event_id = add_event(page.fb_page_id, "9990001112", "grace's event").id
    # an export and a rectification carrying personal values exist too
    export = run(requests.create_request("access", contact, requested_by_id=uid("agent")), jobs)
    rect = requests.create_request(
        "rectification", contact, requested_by_id=uid("agent"), details={"last_name": "Byron"}
    )
    decisions.deny(rect, uid("privacy"), "duplicate")
    contact.notes = "allergic to penicillin"
    contact.tags = "vip"
    contact.profile_pic = "https://cdn.example/ada.jpg"
    contact.locale = "en_GB"
    db.session.commit()
    secrets = [PSID, "Ada", "Lovelace", "Byron", "penicillin", "cdn.example", *TEXTS, "second event"]
    assert _scan(secrets)  # the scan does find them before

    export_path = export.export_path
    assert os.path.exists(export_path)
    req = run(requests.create_request("erasure", contact, requested_by_id=uid("agent")), jobs)
    assert req.status == "complete", req.error
    assert not os.path.exists(export_path)
    assert db.session.get(PrivacyRequest, export.id).export_path is None
    assert "erased 5 messages, 1 conversations, 2 webhook events, 1 export files" == req.result
    assert _scan(secrets) == []
    tomb = db.session.get(Contact, contact.id)
    assert tomb.erased_at is not None
    assert tomb.psid is None
    assert tomb.display_name == f"Erased contact ({tomb.erased_at.strftime('%d %B %Y')})"
    assert tomb.psid_hash == crypto.keyed_hash(PSID)
    # the other contact is untouched
    assert db.session.query(Message).filter_by(conversation_id=other_conv.id).count() == 1
    assert db.session.get(WebhookEvent, other_event_id) is not None
    assert db.session.get(Contact, other.id).first_name == "Grace"


def test_late_event_after_erasure_is_swept(contact, conversation, page, jobs):
    add_messages(conversation, TEXTS[:1])
    req = run(requests.create_request("erasure", contact, requested_by_id=uid("agent")), jobs)
    assert req.status == "complete"
    # a late retry of an old event lands after the erasure: the tombstone's hash finds it
    late_id = add_event(page.fb_page_id, PSID, "late retry text").id
    report = retention.run_retention()
    assert report.erased_leftovers >= 1
    assert db.session.get(WebhookEvent, late_id) is None
    assert _scan([PSID, "late retry text"]) == []


def test_erased_contact_rejects_further_requests(contact, jobs):
    run(requests.create_request("erasure", contact, requested_by_id=uid("agent")), jobs)

    with pytest.raises(PrivacyError, match="erased"):
        requests.create_request("access", db.session.get(Contact, contact.id), requested_by_id=uid("agent"))
