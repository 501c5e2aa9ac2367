"""The privacy section of the dashboard in a real browser: it renders for a Privacy Officer
with seeded requests, and axe-core finds no serious or critical violation on the page."""

from __future__ import annotations

from tests.e2e.test_accessibility import _axe, _report

SEED = """
from datetime import timedelta
from app import db
from app.core.models import utcnow
from app.privacy.models import PrivacyRequest
now = utcnow()
for n, (kind, source, days, done) in enumerate([
    ("erasure", "staff", 40, 10), ("access", "meta_callback", 35, 40), ("erasure", "messenger", 3, None),
    ("marketing_opt_out", "web", 2, None),
]):
    received = now - timedelta(days=days)
    db.session.add(PrivacyRequest(
        request_type=kind, source=source, received_at=received, due_at=received + timedelta(days=30),
        confirmation_code=f"e2e-trend-{n}", status="complete" if done else "pending",
        completed_at=received + timedelta(days=done) if done else None,
    ))
db.session.commit()
print("ok")
"""


def test_privacy_officer_sees_the_monthly_charts(live_app, login, shot):
    assert live_app.python(SEED).strip().endswith("ok")
    page = login("privacy")
    page.goto("/")
    section = page.locator("#panel-privacy-trends")
    section.scroll_into_view_if_needed()
    assert section.locator("svg#chart-privacy-type rect.bar").count() >= 3
    assert section.locator("#privacy-trends-table tbody tr").count() == 12
    shot(page, "dashboard-privacy-trends")
    violations = _axe(page)
    assert not violations, _report(violations)
