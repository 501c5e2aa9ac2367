"""Browser flow: an agent attaches a file in the reply box and sends it with a text; the real
worker uploads it once to the fake Graph API and sends it by attachment_id (docs/attachments.md)."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

from playwright.sync_api import expect

from tests.e2e.test_e2e_flows import _conversation_for, _inbound

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _graph_log(live_app) -> dict:
    with urllib.request.urlopen(f"{live_app.graph_url}/_requests", timeout=10) as resp:
        return json.loads(resp.read())


def test_agent_sends_a_file_with_a_text(live_app, login, shot):
    psid = f"e2ef{uuid.uuid4().int % 10**12}"
    _inbound(live_app, psid, "Can you send me the manual?")
    conv_id = _conversation_for(live_app, psid)
    uploads_before = len(_graph_log(live_app)["uploads"])

    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    page.fill("#reply-text", "Here is the photo you asked for")
    page.set_input_files("#reply-file", files=[{"name": "bike<1>.png", "mimeType": "image/png", "buffer": PNG}])
    page.locator("#reply-form button[type=submit]").click()
    expect(page.locator(".msg .msg-text", has_text="Here is the photo you asked for")).to_have_count(1)
    file_row = page.locator(".msg .msg-file-name", has_text="bike<1>.png")
    expect(file_row).to_have_count(1)
    message = page.locator(".msg", has=page.locator(".msg-file-name", has_text="bike<1>.png"))
    expect(message.locator(".msg-status")).to_have_text(re.compile("^(sent|delivered|read)$"), timeout=30000)
    shot(page, "reply-with-file")
    log = _graph_log(live_app)
    uploads = log["uploads"][uploads_before:]
    assert [(u["type"], u["filename"], u["size"]) for u in uploads] == [("image", "bike<1>.png", len(PNG))]
    sends = [(r["json"] or {}).get("message") or {} for r in log["requests"] if r["path"].endswith("/messages")]
    by_id = [
        m
        for m in sends
        if (m.get("attachment") or {}).get("payload", {}).get("attachment_id") == uploads[0]["attachment_id"]
    ]
    assert len(by_id) == 1
    # typing in the reply box sent typing_on through the real worker (mark_seen depends on who the
    # demo's auto-assignment picked: covered in tests/conversations/test_sender_actions.py)
    assert (psid, "typing_on") in {(a["psid"], a["action"]) for a in log["sender_actions"]}
