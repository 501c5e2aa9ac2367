"""Browser end-to-end: a data subject asks through the public form at /privacy/request, the
one-time code arrives by real SMTP (the embedded server; an Admin reads it at Admin -> Outbox),
and the confirmed request appears in the Privacy Officer's list as a `web` request."""

from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import expect

MAIL_TIMEOUT_S = 60


def _code_from_outbox(page, address: str) -> str:
    """The newest verification code mailed to `address`, as the Admin's Outbox shows it."""
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while time.monotonic() < deadline:
        page.goto("/admin/outbox/")
        row = page.locator("#outbox tr", has_text=address).first
        if row.count() and "sent" in row.locator(".status").inner_text():
            row.locator("td a").first.click()
            body = page.locator("#mail-body")
            if body.count():
                match = re.search(r"\b(\d{6})\b", body.inner_text())
                if match:
                    return match.group(1)
        time.sleep(1)
    raise AssertionError(f"no verification mail to {address} in the outbox after {MAIL_TIMEOUT_S} s")


def test_public_form_code_by_mail_then_request(page, login, shot):
    address = f"lea.{uuid.uuid4().hex[:8]}@example.org"
    page.goto("/privacy/request")
    page.fill("#name", "Lea Stein")
    page.fill("#email", address)
    page.select_option("#request_type", "access")
    page.select_option("#jurisdiction", "gdpr")
    page.fill("#details", "I write to the shop on Messenger as Lea S.")
    shot(page, "privacy-intake-form")
    page.locator("form button[type=submit]").click()
    expect(page.locator("#code")).to_be_visible()
    verify_url = page.locator("form", has=page.locator("#code")).get_attribute("action")
    assert verify_url
    assert "/privacy/request/verify/" in verify_url

    login("admin")
    code = _code_from_outbox(page, address)
    shot(page, "outbox-verification-code")

    page.goto(verify_url)  # a fresh form (and CSRF token) for this session
    page.fill("#code", code)
    page.locator("form button[type=submit]").click()
    expect(page.locator("#request-received")).to_be_visible()
    confirmation = page.locator("#confirmation-code").inner_text()
    assert len(confirmation.strip()) >= 6

    page.goto("/logout/")
    login("privacy")
    page.goto("/privacyrequestmodelview/list/")
    row = page.locator("tr", has=page.locator("td", has_text=re.compile(r"^\s*web\s*$"))).first
    expect(row).to_be_visible()
