"""Browser end-to-end flows against the real app, worker and fake Graph API (see conftest.py)."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

STATUS_TIMEOUT_MS = 45_000
GRID = "table.table-bordered"  # FAB's list grid (the search form is another table)


def _record_count(page: Page) -> int:
    """FAB's "Record Count: N" above the grid (the grid itself shows one page of rows)."""
    text = page.locator("strong", has_text="Record Count").locator("xpath=..").inner_text()
    return int(re.search(r"Record Count:\s*([\d,]+)", text).group(1).replace(",", ""))


def _add_filter(page: Page, column: str, value: str, op: str | None = None) -> None:
    """Use FAB's search panel: Search -> Add Filter -> column -> operation -> value -> Search."""
    page.click("a.accordion-toggle")
    page.get_by_role("button", name="Add Filter").click()
    page.click(f"a.filter[name={column}]")
    if op:  # the operation <select> is a select2 widget: pick from its dropdown like a user
        page.locator("td.filter .select2-container").last.click()
        page.locator(".select2-results__option", has_text=re.compile(f"^{re.escape(op)}$")).click()
    page.locator(f"input[name^='_flt_'][name$='_{column}']").last.fill(value)
    page.locator("#filter_form button[type=submit]").click()


def _menus(page: Page) -> dict[str, set[str]]:
    """Top navbar: category -> item labels (hidden dropdown items included)."""
    return page.evaluate(
        """() => {
        const out = {};
        document.querySelectorAll('ul.navbar-nav:not(.navbar-right) > li').forEach(li => {
          const toggle = li.querySelector(':scope > a');
          const name = toggle.textContent.trim();
          out[name] = Array.from(li.querySelectorAll('ul.dropdown-menu a')).map(a => a.textContent.trim());
        });
        return out;
    }"""
    )


def _inbound(live_app, psid: str, text: str) -> None:
    now = int(time.time() * 1000)
    payload = {
        "object": "page",
        "entry": [
            {
                "id": live_app.page_id,
                "time": now,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": live_app.page_id},
                        "timestamp": now,
                        "message": {"mid": f"m_e2e_{uuid.uuid4().hex}", "text": text},
                    }
                ],
            }
        ],
    }
    assert live_app.post_webhook(payload) == 200


def _conversation_for(live_app, psid: str) -> int:
    """Wait until the worker has turned the webhook into a conversation; its id."""
    return int(
        live_app.python(
            f"""
import time
from sqlalchemy import select
from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
deadline = time.monotonic() + 40
found = None
while found is None and time.monotonic() < deadline:
    found = db.session.scalar(
        select(Conversation.id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(Message, Message.conversation_id == Conversation.id)
        .where(Contact.psid == {psid!r})
    )
    db.session.rollback()
    if found is None:
        time.sleep(0.2)
print(found)
"""
        )
    )


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            "manager",
            {"CRM": {"Inbox", "Conversations", "Messages", "Contacts", "Pages", "Canned Replies", "Assignment & CSAT"}},
        ),
        ("agent", {"CRM": {"Inbox", "Conversations", "Messages", "Contacts", "Canned Replies"}}),
        ("privacy", {"CRM": {"Contacts", "Pages"}, "Privacy": {"Privacy Requests", "Audit Log"}}),
    ],
)
def test_each_role_sees_exactly_its_menus(live_app, login, shot, user, expected):
    page = login(user)
    menus = {name: set(items) for name, items in _menus(page).items()}
    assert menus == expected
    expect(page.locator("h1")).to_have_text("Omni CRM")
    shot(page, f"dashboard-{user}")


def test_admin_sees_everything_and_the_queue_monitor(live_app, login, shot):
    page = login("admin")
    menus = {name: set(items) for name, items in _menus(page).items()}
    assert {"CRM", "Privacy", "Admin", "Security"} <= set(menus)
    assert {"Inbox", "Contacts", "Pages", "Conversations", "Messages"} <= menus["CRM"]
    assert {"Webhook Events", "Queues"} <= menus["Admin"]
    expect(page.locator("#chart-volume")).to_be_visible()
    expect(page.locator("#chart-response")).to_be_visible()
    assert page.locator("#chart-volume rect.bar").count() > 0
    shot(page, "dashboard-admin")
    # a job that fails in the real worker shows up with its exception and can be requeued
    job_id = live_app.python(
        """
import time
from app.core.queues import enqueue, get_queue
job = enqueue("json.loads", "{broken", queue="default")
registry = get_queue("default").failed_job_registry
deadline = time.monotonic() + 40
while job.id not in registry and time.monotonic() < deadline:
    time.sleep(0.2)
print(job.id)
"""
    )
    page.goto("/admin/queues/")
    expect(page.locator("#queue-depths tr[data-queue=outbound]")).to_be_visible()
    row = page.locator(f"#failed-jobs tr[data-job='{job_id}']")
    expect(row).to_contain_text("JSONDecodeError")
    shot(page, "queues")
    row.get_by_role("button", name="Requeue").click()
    expect(page.locator(".alert")).to_contain_text("Job requeued.")


def test_agent_replies_and_sees_the_status_reach_read(live_app, login, shot):
    psid = f"e2e{uuid.uuid4().int % 10**12}"
    _inbound(live_app, psid, "Hello, is the cargo bike in stock?")
    conv_id = _conversation_for(live_app, psid)

    page = login("agent")
    page.goto("/conversations/")
    expect(page.locator(f"a[href$='/conversations/{conv_id}']").first).to_be_visible()
    shot(page, "inbox")
    page.goto(f"/conversations/{conv_id}")
    expect(page.locator(".msg-text", has_text="is the cargo bike in stock?")).to_be_visible()

    reply = f"Yes! Reserved one for you ({uuid.uuid4().hex[:6]})"
    page.fill("#reply-form textarea[name=text]", reply)
    page.locator("#reply-form button[type=submit]").click()
    message = page.locator(".msg", has=page.locator(".msg-text", has_text=reply))
    expect(message).to_have_count(1)
    expect(message.locator(".msg-status")).to_have_text("read", timeout=STATUS_TIMEOUT_MS)
    shot(page, "conversation")


def test_support_manager_searches_and_filters_the_contacts_grid(live_app, login, shot):
    page = login("manager")
    page.goto("/contactmodelview/list/")
    names_cells = page.locator(f"{GRID} tbody tr td:nth-child(2)")
    expect(names_cells.first).to_be_visible()
    total = _record_count(page)
    shot(page, "contacts")
    names = [t.strip() for t in names_cells.all_inner_texts()]
    target = next(n.split()[0] for n in names if n and not n.startswith("Messenger user"))

    # search: first name starts with <target>
    _add_filter(page, "first_name", target)
    page.wait_for_url(re.compile(r"_flt_\d+_first_name="))
    found = [t.strip() for t in names_cells.all_inner_texts()]
    assert found, "the search found nobody"
    assert all(n.startswith(target) for n in found), found
    assert _record_count(page) == len(found) < total

    # filter: tags contain "vip" (on a fresh grid)
    page.goto("/contactmodelview/list/")
    _add_filter(page, "tags", "vip", op="Contains")
    page.wait_for_url(re.compile(r"_flt_\d+_tags=vip"))
    tags = [t.strip() for t in page.locator(f"{GRID} tbody tr td:nth-child(5)").all_inner_texts()]
    assert tags, "no vip contacts in the demo data"
    assert all("vip" in t for t in tags), tags
    assert 0 < _record_count(page) < total
    shot(page, "contacts-filtered")


def test_privacy_officer_approves_an_erasure_and_sees_it_complete(live_app, login, shot, browser_context):
    contact_id = int(
        live_app.python(
            """
from sqlalchemy import select
from app import db
from app.contacts.models import Contact
print(db.session.scalar(
    select(Contact.id)
    .where(Contact.legal_hold.is_(False), Contact.erased_at.is_(None))
    .order_by(Contact.id.desc())
    .limit(1)
))
"""
        )
    )
    page = login("manager")
    page.goto(f"/privacyrequestmodelview/add?contact_id={contact_id}")  # the contact page's link
    page.select_option("#request_type", "erasure")
    page.get_by_role("button", name="Create request").click()
    expect(page.locator("#form-error")).to_have_count(0)
    request_id = int(
        live_app.python(
            f"""
from sqlalchemy import select
from app import db
from app.privacy.models import PrivacyRequest
print(db.session.scalar(
    select(PrivacyRequest.id)
    .where(PrivacyRequest.contact_id == {contact_id}, PrivacyRequest.request_type == "erasure")
    .order_by(PrivacyRequest.id.desc())
))
"""
        )
    )

    browser_context.clear_cookies()
    page = login("privacy")
    page.goto("/privacyrequestmodelview/list/")
    shot(page, "privacy-requests")
    page.goto(f"/privacyrequestmodelview/show/{request_id}")
    expect(page.locator("#status")).to_have_text(re.compile("pending"))
    page.locator("#approve-erasure").click()  # an erasure is confirmed on its own page first
    page.locator("#confirm-erasure").click()
    deadline = time.monotonic() + STATUS_TIMEOUT_MS / 1000
    while True:
        page.goto(f"/privacyrequestmodelview/show/{request_id}")
        status = page.locator("#status").inner_text().strip()
        if status == "complete" or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)  # the page has no live refresh: poll by reloading
    assert status == "complete"
    shot(page, "privacy-request-complete")


def test_script_in_a_webhook_message_never_executes(live_app, login):
    psid = f"xss{uuid.uuid4().int % 10**12}"
    evil = "<script>window.__xss=1;alert('xss')</script><img src=x onerror=\"window.__xss=2;alert('img')\">"
    _inbound(live_app, psid, evil)
    conv_id = _conversation_for(live_app, psid)

    page = login("agent")
    for url in (f"/conversations/{conv_id}", "/conversations/", "/messagemodelview/list/", "/"):
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.evaluate("() => window.__xss") is None, url
    # the conversation's status poller re-renders messages from JSON: it must not inject either
    with page.expect_response(lambda r: f"/conversations/{conv_id}/" in r.url, timeout=STATUS_TIMEOUT_MS):
        page.goto(f"/conversations/{conv_id}")
    expect(page.locator(".msg-text", has_text="<script>window.__xss=1")).to_be_visible()
    assert page.evaluate("() => window.__xss") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
