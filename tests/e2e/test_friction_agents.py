"""What agents and support managers see (issue 21's friction list, issue 15's grid polish)."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.test_e2e_flows import _add_filter, _conversation_for, _inbound


def _age_window(live_app, conv_id: int, days: int) -> None:
    live_app.python(
        f"""
from datetime import timedelta
from app import db
from app.conversations.models import Conversation
from app.core.models import utcnow
conv = db.session.get(Conversation, {conv_id})
conv.last_inbound_at = conv.contact.last_inbound_at = utcnow() - timedelta(days={days}, minutes=5)
db.session.commit()
print("ok")
"""
    )


def test_closed_window_disables_send_with_a_plain_reason(live_app, login, shot):
    psid = f"fa{uuid.uuid4().int % 10**12}"
    _inbound(live_app, psid, "Are you open on Sunday?")
    conv_id = _conversation_for(live_app, psid)
    _age_window(live_app, conv_id, 3)
    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    expect(page.locator("#reply-send")).to_be_disabled()
    expect(page.locator("#reply-blocked")).to_contain_text("This customer last wrote 3 days ago.")
    expect(page.locator("#reply-blocked")).to_contain_text("Messenger only allows replies within 24 hours")
    assert "HUMAN_AGENT_TAG_ENABLED" not in page.content()
    shot(page, "reply-window-closed")


def test_a_send_failing_while_the_page_is_open_shows_a_plain_reason_without_retry(live_app, login, shot):
    psid = f"fa{uuid.uuid4().int % 10**12}"
    _inbound(live_app, psid, "Please send me the invoice")
    conv_id = _conversation_for(live_app, psid)
    failure = {"action": "fail_next", "code": 551, "message": "(#551) This person isn't available right now."}
    live_app.graph_control(failure)
    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    page.fill("#reply-text", "Here it is")
    page.locator("#reply-send").click()
    failed = page.locator(".msg", has_text="Here it is")
    expect(failed.locator(".msg-status")).to_have_text("failed", timeout=20_000)
    expect(failed.locator(".msg-error")).to_contain_text("isn't available on Messenger")
    expect(failed.locator(".msg-retry")).to_have_count(0)
    details = failed.locator("details.msg-error-details")
    expect(details.locator("code")).to_have_text("551")
    details.locator("summary").click()
    expect(details).to_contain_text("This person isn't available right now.")
    shot(page, "reply-failed-permanent")


def test_agent_edits_notes_and_tags_from_the_contact_card(live_app, login):
    psid = f"fa{uuid.uuid4().int % 10**12}"
    _inbound(live_app, psid, "Hi there")
    conv_id = _conversation_for(live_app, psid)
    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    page.locator("#edit-notes-tags").click()
    page.fill("#tags", "vip, wholesale")
    page.fill("#notes", "Orders every Monday")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"/conversations/{conv_id}$"))
    expect(page.locator("#contact-tags .omni-tag")).to_have_text(["vip", "wholesale"])
    expect(page.locator("#contact-notes")).to_have_text("Orders every Monday")
    page.locator("#contact-record").click()
    expect(page.locator("body")).to_contain_text("Orders every Monday")


def test_manager_filters_tags_by_contains_exports_and_follows_links(live_app, login, shot):
    live_app.python(
        """
from sqlalchemy import select
from app import db
from app.contacts.models import Contact
contact = db.session.scalars(select(Contact).where(Contact.erased_at.is_(None)).order_by(Contact.id)).first()
contact.tags = "returning, vip"
db.session.commit()
print(contact.id)
"""
    )
    page = login("manager")
    page.goto("/contactmodelview/list/")
    _add_filter(page, "tags", "vip")  # no operation picked: the default must be "Contains"
    page.wait_for_url(re.compile(r"_flt_0_tags=vip"))
    expect(page.locator(".omni-active-filters")).to_contain_text("Tags contains “vip”")
    expect(page.locator(".omni-tag", has_text="returning").first).to_be_visible()
    body = page.locator("table tbody").first.inner_text()
    assert "None" not in body
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", body)  # no microseconds
    shot(page, "contacts-filtered")
    with page.expect_download() as download:
        page.locator("#grid-export").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.startswith("id,name,page,psid,tags")
    assert "returning, vip" in text
    # contact -> its conversation -> back to the contact record
    page.locator("a.omni-row-link").first.click()
    page.wait_for_url(re.compile(r"/(conversations/\d+|contactmodelview/show/\d+)"))


def test_manager_dashboard_shows_the_team_and_links_to_the_inbox(live_app, login, shot):
    page = login("manager")
    page.goto("/")
    expect(page.locator("#panel-team")).to_be_visible()
    expect(page.locator("#team-agents tbody tr").first).to_be_visible()
    shot(page, "dashboard-manager")
    page.locator("#team-unassigned").click()
    page.wait_for_url(re.compile(r"/conversations/\?.*queue=unassigned"))
