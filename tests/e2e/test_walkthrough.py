"""Screenshots for docs/walkthrough.md: each role's everyday pages, as that role sees them.

Run with the other browser tests (`make test-e2e`); `make screenshots` copies the shots from
test-results/screenshots/ into docs/screenshots/. Each step also checks the page shows what the
walk-through says, so the document cannot silently drift from the product.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

# role -> (path, text the page must show, screenshot name), in walk-through order
STEPS = {
    "admin": [
        ("/", "Omni CRM", "walkthrough-admin-1-dashboard"),
        ("/pagemodelview/list/", "Pages", "walkthrough-admin-2-pages"),
        ("/users/list/", "List Users", "walkthrough-admin-3-users"),
        ("/admin/permissions/", "Permissions by role", "walkthrough-admin-4-permissions"),
        ("/admin/queues/", "Queues", "walkthrough-admin-5-queues"),
    ],
    "manager": [
        ("/", "Omni CRM", "walkthrough-manager-1-dashboard"),
        ("/conversations/", "Inbox", "walkthrough-manager-2-inbox"),
        ("/contactmodelview/list/", "Contacts", "walkthrough-manager-3-contacts"),
        ("/privacyrequestmodelview/add", "New privacy request", "walkthrough-manager-4-privacy-request"),
    ],
    "agent": [
        ("/", "Omni CRM", "walkthrough-agent-1-dashboard"),
        ("/conversations/", "Inbox", "walkthrough-agent-2-inbox"),
    ],
    "privacy": [
        ("/privacyrequestmodelview/list/", "Privacy requests", "walkthrough-privacy-1-requests"),
        ("/privacyrequestmodelview/add", "Find the contact", "walkthrough-privacy-2-new-request"),
        ("/auditlogmodelview/list/", "Verify chain", "walkthrough-privacy-3-audit-log"),
        ("/contactmodelview/list/", "Show erased contacts", "walkthrough-privacy-4-contacts"),
    ],
}


@pytest.mark.parametrize("role", list(STEPS))
def test_walkthrough(live_app, login, shot, role):
    page = login(role)
    for path, text, name in STEPS[role]:
        resp = page.goto(path)
        assert resp is not None
        assert resp.status == 200, path
        expect(page.locator("body")).to_contain_text(text)
        shot(page, name)
    if role == "agent":  # open the first conversation of the inbox: the reply screen
        page.goto("/conversations/")
        page.locator("td a[href*='/conversations/']").first.click()
        expect(page.locator("textarea").first).to_be_visible()
        shot(page, "walkthrough-agent-3-conversation")
