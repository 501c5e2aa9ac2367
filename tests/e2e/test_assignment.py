"""Browser: a Support Manager turns on auto-assignment for a page, and a new conversation
(a signed webhook post, processed by the real worker) lands on the online agent."""

from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import expect

COFFEE_PAGE_ID = "100000000000002"  # the second demo page ("Acme Coffee"), auto-assign off


def _assignee_of(live_app, psid: str) -> str:
    return live_app.python(
        f"""
from sqlalchemy import select
from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation
contact = db.session.scalar(select(Contact).where(Contact.psid == {psid!r}))
conv = db.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id)) if contact else None
print(f"{{conv.id if conv else ''}}:{{conv.assignee.username if conv and conv.assignee else ''}}")
"""
    )


def _set_availability(live_app, **states: str) -> None:
    lines = "\n".join(
        f"availability.do_update(appbuilder.sm.find_user(username={name!r}).id, {{'availability': {state!r}}})"
        for name, state in states.items()
    )
    live_app.python("from app import appbuilder\nfrom app.conversations import availability\n" + lines)


def test_manager_sets_auto_assign_and_a_new_conversation_lands_on_the_online_agent(live_app, login, shot):
    _set_availability(live_app, manager="away", agent2="away", agent="online")
    try:
        page = login("manager")
        page.goto("/workspace/")
        row = page.locator("tr", has_text="Acme Coffee")
        row.locator("select[name=auto_assign]").select_option("balanced")
        row.get_by_role("button", name="Save").click()
        expect(page.locator(".alert-success")).to_contain_text("Settings saved for Acme Coffee.")
        expect(page.locator("tr", has_text="Acme Coffee").locator("select[name=auto_assign]")).to_have_value("balanced")
        shot(page, "workspace-settings")

        psid = f"e2e-assign-{uuid.uuid4().hex[:8]}"
        now = int(time.time() * 1000)
        status = live_app.post_webhook(
            {
                "object": "page",
                "entry": [
                    {
                        "id": COFFEE_PAGE_ID,
                        "time": now,
                        "messaging": [
                            {
                                "sender": {"id": psid},
                                "recipient": {"id": COFFEE_PAGE_ID},
                                "timestamp": now,
                                "message": {"mid": f"m_{psid}", "text": "Do you sell decaf beans?"},
                            }
                        ],
                    }
                ],
            }
        )
        assert status == 200
        deadline = time.monotonic() + 30
        result = ""
        while time.monotonic() < deadline:
            result = _assignee_of(live_app, psid)
            if result.endswith(":agent"):
                break
            time.sleep(0.5)  # the worker processes the webhook in the background
        conv_id, _, assignee = result.partition(":")
        assert assignee == "agent", result

        page.goto(f"/conversations/{conv_id}")
        expect(page.locator("#conv-assignee")).to_contain_text("agent")
        expect(page.locator("select[name=assignee_id] option:checked")).to_have_text(
            re.compile(r"^Agent Demo \(\d+ open\)$")
        )
    finally:
        _set_availability(live_app, manager="online", agent2="online")
        live_app.python(
            "from sqlalchemy import select\nfrom app import db\nfrom app.pages.models import Page\n"
            f"p = db.session.scalar(select(Page).where(Page.fb_page_id == {COFFEE_PAGE_ID!r}))\n"
            "p.auto_assign = 'off'\ndb.session.commit()"
        )
