"""A correction asked for with a tap in Messenger (the demo's rectification) names no fields:
in Chromium, against the real app and worker, the Privacy Officer records them, approves, and
the worker applies them to the contact."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.test_accessibility import _axe, _report
from tests.e2e.test_friction_privacy_admin import _wait_status


def _tapped_rectification(live_app) -> tuple[int, int]:
    out = live_app.python(
        """
from sqlalchemy import select
from app import db
from app.privacy.models import PrivacyRequest
r = db.session.scalars(select(PrivacyRequest).where(PrivacyRequest.request_type == "rectification",
    PrivacyRequest.source == "messenger", PrivacyRequest.status == "pending")).first()
print(r.id, r.contact_id, sep="|")
"""
    )
    request_id, contact_id = out.strip().splitlines()[-1].split("|")
    return int(request_id), int(contact_id)


def test_the_officer_records_the_corrections_then_approves(live_app, login, shot):
    request_id, contact_id = _tapped_rectification(live_app)
    page = login("privacy")
    page.goto(f"/privacyrequestmodelview/show/{request_id}")
    expect(page.locator("#corrections")).to_contain_text("none recorded yet")
    violations = _axe(page)  # the new form: labelled fields, no serious axe-core violation
    assert not violations, _report(violations)
    page.get_by_role("button", name="Approve").click()  # refused: nothing to correct yet
    expect(page.locator(".alert-danger, .alert-warning").first).to_contain_text("record the corrections first")
    page.fill("#correct-last_name", "Okonkwo-Smith")
    shot(page, "privacy-rectification-corrections")
    page.locator("#corrections-submit").click()
    expect(page.locator("#corrections")).to_contain_text("last name → Okonkwo-Smith")
    page.get_by_role("button", name="Approve").click()
    assert _wait_status(page, request_id, "complete") == "complete"
    expect(page.locator("#result")).to_have_text("updated last_name")
    page.goto(f"/contactmodelview/show/{contact_id}")
    expect(page.locator("body")).to_contain_text("Okonkwo-Smith")
