"""Browser end-to-end: an agent answers an Instagram Direct conversation (real app, worker and
fake Graph API; the fake answers the send with Instagram-shaped echo and seen webhooks)."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import expect
from test_e2e_flows import STATUS_TIMEOUT_MS, _conversation_for

from app.devtools.demo_instagram import DEMO_IG_ACCOUNT_ID


def _instagram_inbound(live_app, igsid: str, text: str) -> None:
    now = int(time.time() * 1000)
    item = {"sender": {"id": igsid}, "recipient": {"id": DEMO_IG_ACCOUNT_ID}, "timestamp": now}
    item["message"] = {"mid": f"aWdf{uuid.uuid4().hex}", "text": text}
    body = {"object": "instagram", "entry": [{"id": DEMO_IG_ACCOUNT_ID, "time": now, "messaging": [item]}]}
    assert live_app.post_webhook(body) == 200


def test_agent_replies_to_an_instagram_conversation(live_app, login, shot):
    igsid = str(1_790_000_000_000_000 + uuid.uuid4().int % 10**12)
    profile = {"name": "Ines Moreau", "username": "ines.e2e", "profile_pic": "https://example.invalid/ines.jpg"}
    user = {"action": "instagram_user", "igsid": igsid, "ig_id": DEMO_IG_ACCOUNT_ID, "profile": profile}
    live_app.graph_control(user)
    _instagram_inbound(live_app, igsid, "Hi! Can I return a helmet bought online?")
    conv_id = _conversation_for(live_app, igsid)

    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    expect(page.locator(".msg-text", has_text="Can I return a helmet")).to_be_visible()
    expect(page.locator("#contact-card .channel-label")).to_contain_text("Instagram")
    expect(page.locator("#reply-form textarea[name=text]")).to_have_attribute("maxlength", "1000")

    reply = f"Of course, within 30 days ({uuid.uuid4().hex[:6]})"
    page.fill("#reply-form textarea[name=text]", reply)
    page.locator("#reply-form button[type=submit]").click()
    message = page.locator(".msg", has=page.locator(".msg-text", has_text=reply))
    expect(message).to_have_count(1)
    # the echo confirms it (sent), then Instagram's messaging_seen names its mid (read)
    expect(message.locator(".msg-status")).to_have_text("read", timeout=STATUS_TIMEOUT_MS)
    page.reload()
    expect(page.locator("#contact-card .contact-username")).to_have_text("@ines.e2e")
    expect(page.locator(".msg", has=page.locator(".msg-text", has_text=reply))).to_have_count(1)  # echo: no copy
    shot(page, "instagram-conversation")
