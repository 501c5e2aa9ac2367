"""Hostile input from Meta (names, notes, message text, URLs) is escaped wherever it is shown."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest

from app import db
from app.audit.views import csv_cell
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.privacy.export import csv_safe

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
SAFE_URL = "https://cdn.example.test/pic.png"

DANGEROUS = [SCRIPT, IMG, "<img src=x onerror=alert(1)>", "onerror=alert(1)>"]
JS_ATTR = re.compile(r"""(href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)


@pytest.fixture
def hostile(conversation):
    """A contact and messages whose every public-sourced field carries a payload."""

    contact = conversation.contact
    contact.first_name = SCRIPT
    contact.last_name = IMG
    contact.notes = f"note {SCRIPT} {IMG}"
    contact.tags = f"vip,{SCRIPT}"
    contact.profile_pic = JS_URL
    db.session.add_all(
        [
            Message(
                conversation_id=conversation.id,
                mid="m.hostile.1",
                direction="in",
                text=f"hi {SCRIPT}",
                attachments=[{"type": "image", "url": JS_URL}, {"type": "file", "url": SAFE_URL}],
                status="received",
            ),
            Message(
                conversation_id=conversation.id,
                mid="m.hostile.2",
                direction="in",
                text=IMG,
                attachments=[{"type": "image", "payload": {"url": "JaVaScRiPt:alert(2)"}}],
                status="received",
            ),
        ]
    )
    db.session.commit()
    return conversation


def _assert_clean(html: str, where: str) -> None:
    for payload in DANGEROUS:
        assert payload not in html, f"{where}: unescaped {payload!r}"
    match = JS_ATTR.search(html)
    assert match is None, (
        f"{where}: javascript: URL in an attribute: {html[max(0, match.start() - 80) : match.end() + 40]}"
    )


def _pages(conversation) -> list[str]:

    message_ids = [m.id for m in db.session.query(Message).filter_by(conversation_id=conversation.id)]
    urls = [
        "/contactmodelview/list/",
        f"/contactmodelview/show/{conversation.contact_id}",
        f"/contactmodelview/edit/{conversation.contact_id}",
        f"/contactmodelview/notes/{conversation.contact_id}",
        "/messagemodelview/list/",
        *(f"/messagemodelview/show/{mid}" for mid in message_ids),
        "/conversationmodelview/list/",
        f"/conversationmodelview/show/{conversation.id}",
        "/conversations/?status=all",
        f"/conversations/{conversation.id}",
        "/",
    ]
    return urls


def test_stored_payloads_are_escaped_in_every_view(app, login_as, hostile):
    client = login_as("admin")
    rendered = 0
    for url in _pages(hostile):
        resp = client.get(url)
        assert resp.status_code == 200, f"{url}: {resp.status_code}"
        html = resp.get_data(as_text=True)
        _assert_clean(html, url)
        if "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;img src=x onerror=alert(1)&gt;" in html:
            rendered += 1
    # The payloads were really on those pages (escaped), not merely absent.
    assert rendered >= 8


def test_agents_views_are_escaped_too(app, login_as, hostile):
    client = login_as("agent")
    for url in (f"/conversations/{hostile.id}", "/conversations/?status=all", "/contactmodelview/list/"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        _assert_clean(resp.get_data(as_text=True), url)


def test_conversation_view_renders_only_http_attachment_and_picture_urls(app, login_as, hostile):
    client = login_as("agent")
    html = client.get(f"/conversations/{hostile.id}").get_data(as_text=True)
    assert SAFE_URL in html  # the https attachment is linked
    assert "alert(2)" not in html
    assert JS_URL not in html  # neither the javascript: attachment nor the profile picture


def test_poll_json_carries_only_http_urls(app, login_as, hostile):
    client = login_as("agent")
    resp = client.get(f"/conversations/{hostile.id}/poll?since=0")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    data = resp.get_json()
    urls = [a["url"] for m in data["messages"] for a in m.get("attachments", [])]
    assert SAFE_URL in urls
    assert all(u.startswith(("http://", "https://")) for u in urls)
    # Text goes out as data too; the row HTML beside it is rendered (and escaped) by the server.
    assert any(m.get("text") == f"hi {SCRIPT}" for m in data["messages"])
    assert "javascript:" not in json.dumps(data).lower()


def test_api_returns_payloads_as_json_data(app, client, api, hostile):
    resp = client.get(f"/api/v1/contact/{hostile.contact_id}", headers=api("admin"))
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.get_json()["result"]["first_name"] == SCRIPT
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_html_responses_carry_a_script_restricting_csp(app, login_as, hostile):
    client = login_as("admin")
    resp = client.get(f"/conversations/{hostile.id}")
    csp = resp.headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_payloads_arriving_through_the_webhook_are_escaped(app, client, login_as, page, fakegraph, jobs):
    """End to end: Meta sends the payloads (message, attachment, postback, profile)."""

    psid = "7009990001"
    fakegraph.profiles[psid] = {"first_name": SCRIPT, "last_name": IMG, "profile_pic": JS_URL, "locale": "en_US"}
    now = int(time.time() * 1000)
    sender = {"sender": {"id": psid}, "recipient": {"id": page.fb_page_id}}
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": page.fb_page_id,
                    "time": now,
                    "messaging": [
                        {**sender, "timestamp": now, "message": {"mid": "m.xss.1", "text": f"hey {SCRIPT}"}},
                        {
                            **sender,
                            "timestamp": now + 1,
                            "message": {
                                "mid": "m.xss.2",
                                "attachments": [{"type": "image", "payload": {"url": "javascript:alert(3)"}}],
                            },
                        },
                        {**sender, "timestamp": now + 2, "postback": {"title": IMG, "payload": SCRIPT}},
                    ],
                }
            ],
        }
    ).encode()
    sig = "sha256=" + hmac.new(app.config["FB_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    resp = client.post(
        "/webhooks/messenger", data=body, headers={"X-Hub-Signature-256": sig, "Content-Type": "application/json"}
    )
    assert resp.status_code == 200
    jobs()
    contact = db.session.query(Contact).filter_by(psid=psid).one()
    assert db.session.query(Message).filter(Message.mid == "m.xss.1").one().text == f"hey {SCRIPT}"

    conversation = db.session.query(Conversation).filter_by(contact_id=contact.id).one()
    admin = login_as("admin")
    escaped_seen = False
    for url in _pages(conversation):
        resp = admin.get(url)
        assert resp.status_code == 200, f"{url}: {resp.status_code}"
        html = resp.get_data(as_text=True)
        _assert_clean(html, url)
        escaped_seen = escaped_seen or "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert escaped_seen


def test_csv_exports_guard_against_formula_injection():

    for guard in (csv_cell, csv_safe):
        for cell in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"):
            assert not guard(cell).startswith(("=", "+", "-", "@")), (guard.__module__, cell)
        assert guard("plain text") == "plain text"
