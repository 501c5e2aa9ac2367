"""What Privacy Officers and Admins see (issue 21): in Chromium against the real app and worker.

Contact search on the request form, the erasure confirmation, tombstones in the contacts grid,
the readable audit log and its "Verify chain" job, /privacy filled from the demo company, the
permission matrix and FAB's flashes in plain words.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

TIMEOUT_S = 45


def _contact(live_app) -> tuple[int, str, str]:
    out = live_app.python(
        """
from sqlalchemy import select
from app import db
from app.contacts.models import Contact
c = db.session.scalars(
    select(Contact)
    .where(Contact.legal_hold.is_(False), Contact.erased_at.is_(None), Contact.first_name.is_not(None),
           Contact.last_name.is_not(None))
    .order_by(Contact.id)
).first()
print(c.id, c.first_name, c.last_name, sep="|")
"""
    )
    cid, first, last = out.strip().splitlines()[-1].split("|")
    return int(cid), first, last


def _latest_request(live_app, contact_id: int) -> int:
    return int(
        live_app.python(
            f"""
from sqlalchemy import select
from app import db
from app.privacy.models import PrivacyRequest
print(db.session.scalar(select(PrivacyRequest.id).where(PrivacyRequest.contact_id == {contact_id})
      .order_by(PrivacyRequest.id.desc())))
"""
        )
        .strip()
        .splitlines()[-1]
    )


def _wait_status(page, request_id: int, wanted: str) -> str:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        page.goto(f"/privacyrequestmodelview/show/{request_id}")
        status = page.locator("#status").inner_text().strip()
        if status == wanted or time.monotonic() > deadline:
            return status
        page.wait_for_timeout(500)


def test_request_form_search_confirmation_and_tombstone(live_app, login, shot, browser_context):
    contact_id, first, last = _contact(live_app)
    page = login("manager")
    page.goto("/privacyrequestmodelview/add")
    expect(page.locator("#contact_id")).to_have_count(0)  # no raw, editable contact id
    page.select_option("#request_type", "access")
    expect(page.locator("#rectification-fields")).to_be_hidden()
    page.select_option("#request_type", "rectification")
    expect(page.locator("#rectification-fields")).to_be_visible()
    page.select_option("#request_type", "erasure")
    page.fill("#q", f"{first} {last}")  # live search (JSON endpoint)
    match = page.locator("a.contact-match", has_text=f"{first} {last}").first
    expect(match).to_be_visible()
    shot(page, "privacy-request-search")
    match.click()
    expect(page.locator("#chosen-contact")).to_contain_text(f"{first} {last}")
    expect(page.locator("#request_type")).to_have_value("erasure")
    expect(page.locator("#rectification-fields")).to_be_hidden()
    page.fill("#identity_check", "Asked in the Messenger conversation itself")
    shot(page, "privacy-request-form")
    page.get_by_role("button", name="Create request").click()
    expect(page.locator("#form-error")).to_have_count(0)
    request_id = _latest_request(live_app, contact_id)

    browser_context.clear_cookies()
    page = login("privacy")
    page.goto(f"/privacyrequestmodelview/show/{request_id}")
    expect(page.locator("#identity-check")).to_have_text("Yes — Asked in the Messenger conversation itself")
    page.locator("#approve-erasure").click()
    expect(page.locator("h2")).to_have_text(f"Erase {first} {last}?")
    expect(page.locator("#erasure-warning")).to_contain_text("This cannot be undone.")
    expect(page.locator("#erasure-preview")).to_contain_text("message(s)")
    shot(page, "privacy-erasure-confirm")
    page.locator("#confirm-erasure").click()
    assert _wait_status(page, request_id, "complete") == "complete"
    due_cell = page.locator("#due").inner_text()
    assert "left" not in due_cell
    assert not re.search(r"\d{4}-\d{2}-\d{2}", due_cell)  # once, readable

    page.goto("/contactmodelview/list/")
    expect(page.locator("#show-erased")).to_be_visible()
    expect(page.locator("tr.tombstone")).to_have_count(0)
    page.locator("#show-erased").click()
    tomb = page.locator(f"tr.tombstone[data-pk='{contact_id}']")
    expect(tomb).to_contain_text(re.compile(r"Erased contact \(\d{1,2} \w+ \d{4}\)"))
    expect(tomb.locator("a[href*='/edit/'], a[href*='/delete/']")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("None None False")
    tomb.scroll_into_view_if_needed()
    shot(page, "contacts-erased-filter")


def test_audit_log_is_readable_and_verify_chain_runs_in_the_worker(live_app, login, shot):
    page = login("privacy")
    page.goto("/auditlogmodelview/list/")
    grid = page.locator("table.table-bordered").last
    expect(grid).to_contain_text("Signed in")
    expect(grid).not_to_contain_text("login_failed")
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", grid.inner_text())  # no microseconds
    page.locator("#verify-chain").click()
    expect(page.locator(".alert")).to_contain_text("Chain verification queued")
    expect(page.locator("#verify-result")).to_contain_text(
        re.compile("OK: [\\d,]+ rows verified"), timeout=TIMEOUT_S * 1000
    )
    shot(page, "audit-log")
    page.locator("table.table-bordered a[href*='/auditlogmodelview/show/']").first.click()
    expect(page.locator("body")).not_to_contain_text("Ip None")
    shot(page, "audit-entry")


def test_privacy_policy_shows_the_demo_company(live_app, page, shot):
    page.goto("/privacy")
    body = page.locator("body")
    expect(body).to_contain_text("Demo Shop Ltd")
    expect(body).to_contain_text("1 Example Street, 10115 Berlin, Germany")
    expect(body).to_contain_text("privacy@demo-shop.example")
    expect(body).not_to_contain_text("[Your Company Address]")
    expect(body).not_to_contain_text("November 29, 2024")
    shot(page, "privacy-policy")
    page.goto("/privacy/data-deletion")
    expect(page.locator("#app-name")).to_have_text("Demo Shop Messenger")


def test_admin_sees_the_permission_matrix_and_plain_flashes(live_app, login, shot):
    page = login("admin")
    page.goto("/roles/list/")
    expect(page.locator("body")).not_to_contain_text("^can_")
    expect(page.locator("td.role-permissions").first).to_be_visible()
    page.goto("/admin/permissions/")
    agent_contacts = page.locator("#permission-matrix tr[data-resource=Contact] td").nth(2)
    expect(agent_contacts).to_have_text("view, edit notes and tags")
    shot(page, "permission-matrix")
    contact_id, _, _ = _contact(live_app)
    page.goto(f"/contactmodelview/edit/{contact_id}")
    page.locator("form#model_form [type=submit]").first.click()
    expect(page.locator("body")).to_contain_text("Contact saved.")
    expect(page.locator("body")).not_to_contain_text("Changed Row")
