"""Browser: the "Needs reply" queue is ordered by the reply window's end, and a new inbound
message (posted signed to the webhook) appears in the open conversation without a reload."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import expect

from tests.e2e.test_e2e_flows import _conversation_for

LIVE_TIMEOUT_MS = 30_000  # the worker applies the event, then the page's 3 s poll shows it


def _inbound_at(live_app, psid: str, text: str, hours_ago: float) -> None:
    ts = int((time.time() - hours_ago * 3600) * 1000)
    item = {
        "sender": {"id": psid},
        "recipient": {"id": live_app.page_id},
        "timestamp": ts,
        "message": {"mid": f"m_live_{uuid.uuid4().hex}", "text": text},
    }
    payload = {"object": "page", "entry": [{"id": live_app.page_id, "time": ts, "messaging": [item]}]}
    assert live_app.post_webhook(payload) == 200


def test_needs_reply_is_ordered_by_window_end_and_new_messages_arrive_live(live_app, login, shot):
    tag = uuid.uuid4().hex[:6]
    ages = {"early": 20.0, "late": 2.0, "middle": 10.0}  # hours since the contact wrote
    psids = {name: f"77{abs(hash(tag + name)) % 10**10:010d}" for name in ages}
    for name, hours in ages.items():
        _inbound_at(live_app, psids[name], f"{name} question {tag}", hours)
    ids = {name: _conversation_for(live_app, psid) for name, psid in psids.items()}

    page = login("agent")
    page.goto(live_app.base_url + "/conversations/?queue=needs_reply")
    expect(page.locator("#inbox-queues li.active")).to_contain_text("Needs reply")
    rows = page.locator("#inbox-rows tr.inbox-row")
    order = [int(x) for x in rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]
    positions = [order.index(ids[name]) for name in ("early", "middle", "late")]
    assert positions == sorted(positions), (order, ids)  # soonest window end first
    expect(page.locator(f'#inbox-rows tr[data-id="{ids["early"]}"] .window-left')).to_have_class(
        "label label-success window-left"
    )
    shot(page, "inbox-needs-reply")

    page.goto(f"{live_app.base_url}/conversations/{ids['late']}")
    expect(page.locator("#thread")).to_contain_text(f"late question {tag}")
    _inbound_at(live_app, psids["late"], f"are you there? {tag}", 0)
    expect(page.locator("#thread")).to_contain_text(f"are you there? {tag}", timeout=LIVE_TIMEOUT_MS)
    shot(page, "conversation-live-message")


def test_inbox_rows_refresh_without_reload(live_app, login):
    page = login("agent")
    page.goto(live_app.base_url + "/conversations/?queue=needs_reply")
    page.wait_for_timeout(1000)  # let the first poll set the baseline version
    tag = uuid.uuid4().hex[:6]
    psid = f"78{abs(hash(tag)) % 10**10:010d}"
    _inbound_at(live_app, psid, f"fresh {tag}", 23.5)  # closes in 30 min: first in the queue
    conv_id = _conversation_for(live_app, psid)
    expect(page.locator(f'#inbox-rows tr[data-id="{conv_id}"]')).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(f'#inbox-rows tr[data-id="{conv_id}"] .window-left')).to_have_class(
        "label label-danger window-left"
    )
