"""Admin → Channels in a real browser: a lost subscription is seen, explained, repaired, and the
missed messages come back (real app, worker and fake Graph API)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

TIMEOUT_MS = 45_000


def _recovered(live_app) -> int:
    code = """
from sqlalchemy import func, select
from app import db
from app.conversations.models import Message
print(db.session.scalar(select(func.count(Message.id)).where(Message.recovered.is_(True))))
"""
    return int(live_app.python(code))


def test_admin_sees_a_lost_subscription_repairs_it_and_recovers_messages(live_app, login, shot):
    live_app.graph_control({"action": "subscription", "page_id": live_app.page_id, "fields": None})
    page = login("admin")
    page.goto("/admin/channels/")
    row = page.locator(f"tr[data-page='{live_app.page_id}']")
    expect(row).to_be_visible()
    row.get_by_role("button", name="Check now").click()
    row = page.locator(f"tr[data-page='{live_app.page_id}']")
    expect(row).to_have_attribute("data-status", "failing", timeout=TIMEOUT_MS)
    expect(row.locator(".health-reason")).to_contain_text("the app is not subscribed to the page's webhooks")
    expect(page.locator("#version-warning")).to_have_count(0)  # the default version is far from its end
    shot(page, "channels-failing")

    page.goto("/")
    expect(page.locator("#channel-health-banner")).to_contain_text("channel(s) failing")

    page.goto("/admin/channels/")
    page.locator(f"tr[data-page='{live_app.page_id}']").get_by_role("button", name="Re-subscribe").click()
    expect(page.locator(".alert", has_text="re-subscribed")).to_be_visible()
    row = page.locator(f"tr[data-page='{live_app.page_id}']")
    expect(row).not_to_have_attribute("data-status", "failing")
    expect(row.locator(".health-reason")).not_to_contain_text("not subscribed")

    start = time.time() - 3600
    added = live_app.graph_control(
        {
            "action": "history",
            "page_id": live_app.page_id,
            "generate": {"conversations": 2, "messages": 3, "start": start, "step": 60},
        },
    )
    assert added["messages"] == 6
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    row.locator("input[type=date]").fill(since)
    row.get_by_role("button", name="Recover messages").click()
    expect(page.locator(".alert", has_text="queued")).to_be_visible()
    shot(page, "channels")
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and _recovered(live_app) < 6:
        time.sleep(0.5)
    assert _recovered(live_app) == 6


def test_channels_page_is_for_admins_only(live_app, login):
    page = login("manager")
    resp = page.goto("/admin/channels/")
    assert resp.status == 403
