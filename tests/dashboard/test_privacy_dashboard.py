"""The privacy section of the dashboard: per-month numbers grouped in SQL (exact for seeded
requests, both backends), charts, the empty state, and who sees it."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event

from app import db
from app.core.models import utcnow
from app.dashboard import privacy_trends
from app.privacy.models import PrivacyRequest

NOW = datetime(2026, 3, 15, 12, 0)
DAY = timedelta(days=1)


def _req(n: int, kind: str, source: str, received: datetime, due: datetime, **values) -> PrivacyRequest:
    req = PrivacyRequest(
        request_type=kind,
        source=source,
        received_at=received,
        due_at=due,
        confirmation_code=f"trend{n}",
        status=values.pop("status", "pending"),
        **values,
    )
    db.session.add(req)
    return req


def _seed(now: datetime) -> tuple[date, date]:
    """Last month: three completed (one at its due date, one late, one on time only thanks to
    its extension); this month: two received, none completed; 13 months ago: out of range."""
    months = privacy_trends.month_range(now=now)
    last, this = (datetime(m.year, m.month, 1) for m in months[-2:])
    _req(1, "erasure", "staff", last + DAY, last + 5 * DAY, status="complete", completed_at=last + 5 * DAY)
    _req(2, "access", "meta_callback", last + 2 * DAY, last + 10 * DAY, status="complete", completed_at=last + 20 * DAY)
    _req(
        3,
        "erasure",
        "messenger",
        last + 3 * DAY,
        last + 25 * DAY,
        status="complete",
        completed_at=last + 24 * DAY,
        original_due_at=last + 5 * DAY,
        extended_at=last + 4 * DAY,
        extension_reason="a large archive to search",
    )
    _req(4, "marketing_opt_out", "web", this + timedelta(hours=9), this + 30 * DAY)
    _req(5, "access", "staff", this + timedelta(hours=10), this + 30 * DAY, status="denied")
    old = datetime(months[0].year - 1, months[0].month, 10)
    _req(6, "erasure", "staff", old, old + 30 * DAY, status="complete", completed_at=old + DAY, extended_at=old)
    db.session.commit()
    return months[-2], months[-1]


def _row(trends, month: date):
    [row] = [r for r in trends.rows if r.month == month]
    return row


def test_monthly_numbers_are_exact():
    last, this = _seed(NOW)
    trends = privacy_trends.build(now=NOW)
    assert trends.rows[0].month == date(2025, 4, 1)
    assert len(trends.rows) == 12
    feb, mar = _row(trends, last), _row(trends, this)
    assert (last, this) == (date(2026, 2, 1), date(2026, 3, 1))
    assert (feb.received, feb.completed, feb.on_time, feb.on_time_pct, feb.median_days, feb.extended) == (
        3,
        3,
        2,
        66.7,
        18.0,
        1,
    )
    assert (mar.received, mar.completed, mar.on_time_pct, mar.median_days, mar.extended) == (2, 0, None, None, 0)
    assert sum(r.received for r in trends.rows) == 5
    assert trends.totals == {"received": 5, "completed": 3, "on_time_pct": 66.7, "extended": 1}
    type_bars = sorted(b.title for b in trends.by_type.bars)
    assert type_bars == [
        "Feb 2026: 1 access",
        "Feb 2026: 2 erasure",
        "Mar 2026: 1 access",
        "Mar 2026: 1 marketing opt out",
    ]
    source_bars = sorted(b.title for b in trends.by_source.bars)
    assert source_bars == [
        "Feb 2026: 1 messenger",
        "Feb 2026: 1 meta callback",
        "Feb 2026: 1 staff",
        "Mar 2026: 1 staff",
        "Mar 2026: 1 web",
    ]
    assert [d.title for d in trends.on_time.dots] == ["Feb 2026: 66.7%"]
    assert [d.title for d in trends.median.dots] == ["Feb 2026: 18 days"]
    assert not trends.empty


def test_stacked_bars_sit_on_each_other():
    _seed(NOW)
    trends = privacy_trends.build(now=NOW)
    feb = sorted((b for b in trends.by_type.bars if b.title.startswith("Feb")), key=lambda b: -b.y)
    assert len(feb) == 2
    assert feb[0].y == pytest.approx(feb[1].y + feb[1].height, abs=0.2)  # the upper starts where the lower ends
    assert feb[0].x == feb[1].x


def test_a_fixed_number_of_grouped_queries_whatever_the_rows():
    _seed(NOW)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        privacy_trends.build(now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 5
    assert all("GROUP BY" in s.upper() for s in selects if "percentile_cont" in s or "count(" in s.lower())


def _ids(html: str) -> set[str]:
    return set(re.findall(r'id="((?:panel|chart|privacy)-[a-z-]+)"', html))


@pytest.mark.parametrize(
    ("user", "visible"), [("admin", True), ("privacy", True), ("manager", False), ("agent", False)]
)
def test_who_sees_the_section(login_as, user, visible):
    _seed(utcnow())
    resp = login_as(user).get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    ids = _ids(html)
    section = {"panel-privacy-trends", "chart-privacy-type", "chart-privacy-source", "privacy-trends-table"}
    if visible:
        assert section <= ids, section - ids
        assert "3 (100.0%)" not in html
        assert re.search(r'<td class="on-time">2 \(66\.7%\)</td>', html)
        assert re.search(r'<td class="median">18\.0</td>', html)
        assert "<strong>5</strong> received" in html
    else:
        assert not (section & ids), section & ids
        assert "Privacy requests per month" not in html


def test_empty_state(login_as):
    html = login_as("privacy").get("/").get_data(as_text=True)
    assert 'id="privacy-trends-empty"' in html
    assert "No privacy requests in the last 12 months." in html
    assert 'id="chart-privacy-type"' not in html


def test_month_range_crosses_the_year():
    assert privacy_trends.month_range(3, datetime(2026, 1, 31, 23, 59)) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
    ]
