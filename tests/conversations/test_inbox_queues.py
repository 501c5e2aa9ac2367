"""Inbox queues by reply window (needs reply, mine, unassigned, window closed, all), their
filters and counts, the webhook keeping `window_expires_at`, and the live JSON endpoint."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from app import db
from app.contacts.models import Contact
from app.conversations import queues
from app.conversations.models import Conversation, ConversationLabel
from app.core.models import utcnow
from app.webhooks import signals
from tests.helpers import run_jobs, uid
from tests.webhooks.webhook_helpers import item, now_ms, payload, sign256


def _conv(page, name: str, *, inbound_ago: timedelta | None, awaiting: bool = True, **values) -> Conversation:
    now = utcnow()
    contact = Contact(page=page, psid=f"p-{name}", first_name=name)
    db.session.add(contact)
    db.session.flush()
    last_in = now - inbound_ago if inbound_ago is not None else None
    conv = Conversation(
        page_id=page.id,
        contact_id=contact.id,
        status=values.pop("status", "open"),
        last_message_at=last_in or now - timedelta(days=30),
        last_inbound_at=last_in,
        window_expires_at=last_in + timedelta(hours=24) if last_in else None,
        awaiting_reply=awaiting and last_in is not None,
        **values,
    )
    db.session.add(conv)
    db.session.commit()
    return conv


def _names(html: str) -> list[str]:
    return re.findall(r'href="/conversations/\d+">([A-Za-z0-9_]+)</a>', html)


def test_needs_reply_is_the_default_and_sorted_by_window_end(login_as, page):
    _conv(page, "fresh", inbound_ago=timedelta(hours=1))
    _conv(page, "urgent", inbound_ago=timedelta(hours=23))
    _conv(page, "middle", inbound_ago=timedelta(hours=12))
    _conv(page, "answered", inbound_ago=timedelta(hours=2), awaiting=False)
    _conv(page, "expired", inbound_ago=timedelta(hours=30))
    _conv(page, "closedone", inbound_ago=timedelta(hours=3), status="closed")
    client = login_as("agent")
    resp = client.get("/conversations/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert _names(html) == ["urgent", "middle", "fresh"]
    assert "window-urgent" in html  # under two hours left: coloured
    assert re.search(r"label-danger window-left\">\d+ min left", html)
    assert 'aria-current="page">Needs reply' in html


def test_window_closed_queue_says_human_agent_or_nothing(login_as, page):
    _conv(page, "recent", inbound_ago=timedelta(days=2))
    _conv(page, "old", inbound_ago=timedelta(days=9))
    _conv(page, "open", inbound_ago=timedelta(hours=3))
    html = login_as("agent").get("/conversations/?queue=window_closed").get_data(as_text=True)
    assert _names(html) == ["recent", "old"]
    assert "closed · HUMAN_AGENT 4 d" in html
    assert "closed · no reply possible" in html


def test_mine_unassigned_all_and_tab_counts(login_as, page):
    agent_id = uid("agent")
    _conv(page, "minea", inbound_ago=timedelta(hours=1), assignee_id=agent_id)
    _conv(page, "free", inbound_ago=timedelta(hours=2))
    _conv(page, "theirs", inbound_ago=timedelta(hours=2), assignee_id=uid("manager"))
    client = login_as("agent")
    assert _names(client.get("/conversations/?queue=mine").get_data(as_text=True)) == ["minea"]
    assert _names(client.get("/conversations/?queue=unassigned").get_data(as_text=True)) == ["free"]
    html = client.get("/conversations/?queue=all").get_data(as_text=True)
    assert sorted(_names(html)) == ["free", "minea", "theirs"]
    counts = dict(re.findall(r'data-queue="(\w+)">([\d,]+)', html))
    assert counts == {"needs_reply": "3", "mine": "1", "unassigned": "1", "window_closed": "0", "all": "3"}
    # the old links keep working
    assert _names(client.get("/conversations/?assignee=me").get_data(as_text=True)) == ["minea"]
    assert _names(client.get("/conversations/?assignee=none&status=open").get_data(as_text=True)) == ["free"]


def test_label_priority_channel_and_page_filters(login_as, page):
    a = _conv(page, "vipone", inbound_ago=timedelta(hours=1), priority="urgent", labels=["vip"])
    db.session.add(ConversationLabel(conversation_id=a.id, label="vip"))
    _conv(page, "plain", inbound_ago=timedelta(hours=2))
    _conv(page, "insta", inbound_ago=timedelta(hours=3), channel="instagram")
    db.session.commit()
    client = login_as("agent")
    assert _names(client.get("/conversations/?label=VIP").get_data(as_text=True)) == ["vipone"]
    assert _names(client.get("/conversations/?priority=urgent").get_data(as_text=True)) == ["vipone"]
    html = client.get("/conversations/?channel=instagram").get_data(as_text=True)
    assert _names(html) == ["insta"]
    assert 'data-channel="instagram"' in html
    assert _names(client.get(f"/conversations/?queue=all&page={page.id + 999}").get_data(as_text=True)) == []
    # nonsense values fall back to no filter, never a 500
    for query in ("label=%3Cscript%3E", "priority=x", "channel=fax", "queue=zzz", "page=abc", "p=-1"):
        assert client.get(f"/conversations/?{query}").status_code == 200


def test_tab_counts_stop_at_the_cap(page, monkeypatch):
    for i in range(4):
        _conv(page, f"c{i}", inbound_ago=timedelta(hours=1 + i))
    monkeypatch.setattr(queues, "TAB_COUNT_CAP", 3)
    counts = queues.tab_counts(queues.parse_filters({}), None)
    assert counts["needs_reply"] == (3, True)
    assert counts["window_closed"] == (0, False)


def test_webhook_message_sets_window_and_needs_reply_and_echo_clears_it(app, client, page, contact):
    def post(*items):
        body = json.dumps(payload(*items)).encode()
        signature = sign256(body, app.config["FB_APP_SECRET"])
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        assert client.post("/webhooks/messenger", data=body, headers=headers).status_code == 200
        signals.flush_signals()
        run_jobs(("webhooks",))

    ts = now_ms()
    post(item(ts=ts, message={"mid": "m-q-1", "text": "hello?"}))
    conv = db.session.query(Conversation).filter_by(contact_id=contact.id).one()
    assert conv.awaiting_reply is True
    expected = conv.last_inbound_at + timedelta(hours=24)
    assert conv.window_expires_at == expected
    assert conv.first_response_due_at is not None
    assert conv.window_expires_at > utcnow() + timedelta(hours=23)
    post(
        {
            "sender": {"id": "1234567890"},
            "recipient": {"id": contact.psid},
            "timestamp": ts + 1000,
            "message": {"is_echo": True, "mid": "m-q-2", "text": "answered from the Page inbox"},
        }
    )
    db.session.expire_all()
    conv = db.session.get(Conversation, conv.id)
    assert conv.awaiting_reply is False


def test_live_endpoint_returns_counts_and_rows_only_when_changed(login_as, page):
    _conv(page, "liveone", inbound_ago=timedelta(hours=1))
    client = login_as("agent")
    first = client.get("/conversations/live?queue=needs_reply")
    assert first.status_code == 200
    body = first.get_json()
    assert body["counts"]["needs_reply"] == {"count": 1, "capped": False}
    assert "liveone" in body["rows_html"]
    again = client.get(f"/conversations/live?queue=needs_reply&v={body['version']}").get_json()
    assert "rows_html" not in again
    _conv(page, "second", inbound_ago=timedelta(hours=20))
    changed = client.get(f"/conversations/live?queue=needs_reply&v={body['version']}").get_json()
    assert changed["counts"]["needs_reply"]["count"] == 2
    assert changed["rows_html"].index("second") < changed["rows_html"].index("liveone")


def test_live_endpoint_requires_login(client):
    resp = client.get("/conversations/live")
    assert resp.status_code in (302, 401)
