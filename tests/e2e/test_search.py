"""Browser: an agent finds a conversation by words of an (encrypted) message from the inbox box."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.test_e2e_flows import _conversation_for, _inbound


def test_agent_searches_messages_from_the_inbox(live_app, login, shot):
    psid = f"e2es{uuid.uuid4().int % 10**12}"
    word = f"zeppelin{uuid.uuid4().hex[:6]}"
    _inbound(live_app, psid, f"Is the {word.upper()} kit back in stock? Ça m'intéresse")
    conv_id = _conversation_for(live_app, psid)

    page = login("agent")
    page.goto("/conversations/")
    page.fill("input[name=q]", f"{word} interesse")
    page.get_by_role("button", name="Search messages").click()
    expect(page.locator(".search-count")).to_contain_text("1 conversation")
    expect(page.locator(f"#search-results a[href*='/conversations/{conv_id}#msg-']")).to_have_count(1)
    shot(page, "search-results")
    page.fill("input[name=q]", f"{word} missingword")
    page.get_by_role("button", name="Search messages").click()
    expect(page.locator(".search-empty")).to_be_visible()
