"""Browser flows of the agent workspace: a canned reply picked with "/" and the keyboard, and a
mention in a private note that reaches the colleague's bell (see conftest.py for the stack)."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.test_e2e_flows import _conversation_for, _inbound


def _first_name(live_app, conv_id: int) -> str:
    return live_app.python(
        f"""
from app import db
from app.conversations.models import Conversation
print(db.session.get(Conversation, {conv_id}).contact.first_name or "")
"""
    ).strip()


def test_agent_uses_a_canned_reply_with_slash_and_sends_it(live_app, login, shot):
    psid = f"e2ec{uuid.uuid4().int % 10**12}"
    _inbound(live_app, psid, "Hello, do you have helmets?")
    conv_id = _conversation_for(live_app, psid)
    first_name = _first_name(live_app, conv_id)

    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    box = page.locator("#reply-text")
    box.click()
    box.press_sequentially("/h", delay=30)
    options = page.locator("#canned-list [role=option]")
    expect(options.first).to_be_visible()
    expect(page.locator("#canned-list")).to_contain_text("/hello")
    expect(page.locator("#canned-list")).to_contain_text("/hours")
    # keyboard only: down to /hours, back up to /hello, Enter inserts the rendered text
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    shot(page, "canned-reply-picker")
    box.press("Enter")
    expect(page.locator("#canned-list")).to_be_hidden()
    value = box.input_value()
    assert value == f"Hi {first_name}! This is Agent from Acme Bikes. How can I help?"
    assert "{{" not in value
    assert "None" not in value
    page.locator("#reply-form button[type=submit]").click()
    expect(page.locator(".msg .msg-text", has_text="This is Agent from Acme Bikes")).to_have_count(1)


def test_a_mention_reaches_the_other_users_bell(live_app, login, shot, browser_context):
    psid = f"e2em{uuid.uuid4().int % 10**12}"
    _inbound(live_app, psid, "My order never arrived")
    conv_id = _conversation_for(live_app, psid)

    page = login("agent")
    before = int(page.locator("#notification-count").inner_text() or "0")
    browser_context.clear_cookies()

    page = login("manager")
    page.goto(f"/conversations/{conv_id}")
    note = f"@agent please call them back ({uuid.uuid4().hex[:6]})"
    page.fill("#note-text", note)
    page.locator("#note-form button[type=submit]").click()
    thread_note = page.locator(".note", has_text=note)
    expect(thread_note).to_be_visible()
    expect(thread_note).to_contain_text("Private note")
    browser_context.clear_cookies()

    page = login("agent")
    expect(page.locator("#notification-count")).to_have_text(str(before + 1))
    page.locator("#notification-bell a").click()
    row = page.locator("#notifications tbody tr").first
    expect(row).to_contain_text("mentioned you in a note")
    expect(row).to_contain_text(f"conversation #{conv_id}")
    shot(page, "notifications")
    row.get_by_role("button", name="Open").click()
    page.wait_for_url(f"**/conversations/{conv_id}")
    expect(page.locator(".note", has_text=note)).to_be_visible()
    expect(page.locator("#notification-count")).to_have_text(str(before))
