"""Privacy requests per month (last 12) for Privacy Officers and Admins: by type and source,
on-time rate, median days to complete, extensions.

Months are grouped in SQL (`strftime` on SQLite, `to_char` on PostgreSQL), one query per
figure over at most a year of rows. A request counts in the month it was received (type,
source), completed (on time, median) or extended. "On time" compares `completed_at` with
`due_at`, which an extension moves, so an extended request completed by its new date is on time.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from app import db
from app.core.models import utcnow
from app.dashboard import charts
from app.dashboard.services import _dialect, _seconds_between
from app.privacy.models import PrivacyRequest, RequestSource, RequestStatus, RequestType

MONTHS = 12
SERIES_CSS = ("series-c1", "series-c2", "series-c3", "series-c4", "series-c5")


def _month(col: Any) -> ColumnElement[Any]:
    """'YYYY-MM' of a timestamp, on both backends."""
    if _dialect() == "postgresql":
        return func.to_char(col, "YYYY-MM")
    return func.strftime("%Y-%m", col)


def _key(value: Any) -> date:
    text = str(value)
    return date(int(text[:4]), int(text[5:7]), 1)


def month_range(months: int = MONTHS, now: datetime | None = None) -> list[date]:
    """First days of the last `months` calendar months, oldest first, this month included."""
    today = (now or utcnow()).date()
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


@dataclass
class MonthRow:
    month: date
    received: int = 0
    completed: int = 0
    on_time: int = 0
    median_days: float | None = None
    extended: int = 0

    @property
    def on_time_pct(self) -> float | None:
        return round(100.0 * self.on_time / self.completed, 1) if self.completed else None


@dataclass
class PrivacyTrends:
    rows: list[MonthRow]
    by_type: charts.Chart
    by_source: charts.Chart
    on_time: charts.Chart
    median: charts.Chart
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(r.received or r.completed or r.extended for r in self.rows)


def _counts(col: Any, when: Any, since: datetime) -> dict[tuple[date, str], int]:
    month = _month(when)
    rows = db.session.execute(select(month, col, func.count()).where(when >= since).group_by(month, col)).all()
    return {(_key(m), str(value)): int(n) for m, value, n in rows}


def _completions(since: datetime) -> dict[date, tuple[int, int]]:
    """month -> (completed, of which by the due date)."""
    month = _month(PrivacyRequest.completed_at)
    on_time = func.sum(case((PrivacyRequest.completed_at <= PrivacyRequest.due_at, 1), else_=0))
    rows = db.session.execute(
        select(month, func.count(), on_time)
        .where(PrivacyRequest.status == RequestStatus.COMPLETE, PrivacyRequest.completed_at >= since)
        .group_by(month)
    ).all()
    return {_key(m): (int(n), int(ok or 0)) for m, n, ok in rows}


def _extensions(since: datetime) -> dict[date, int]:
    month = _month(PrivacyRequest.extended_at)
    rows = db.session.execute(
        select(month, func.count()).where(PrivacyRequest.extended_at >= since).group_by(month)
    ).all()
    return {_key(m): int(n) for m, n in rows}


def _medians(since: datetime) -> dict[date, float]:
    """month -> median days from receipt to completion. PostgreSQL computes it; SQLite has no
    median, so it returns one delay per completed request (a year's worth) for Python."""
    seconds = _seconds_between(PrivacyRequest.completed_at, PrivacyRequest.received_at)
    month = _month(PrivacyRequest.completed_at)
    where = (PrivacyRequest.status == RequestStatus.COMPLETE, PrivacyRequest.completed_at >= since)
    if _dialect() == "postgresql":
        median = func.percentile_cont(0.5).within_group(cast(seconds, Float))
        rows = db.session.execute(select(month, median).where(*where).group_by(month)).all()
        return {_key(m): float(v) / 86400.0 for m, v in rows if v is not None}
    per_month: dict[date, list[float]] = {}
    for m, v in db.session.execute(select(month, seconds).where(*where)).all():
        per_month.setdefault(_key(m), []).append(float(v))
    return {m: statistics.median(values) / 86400.0 for m, values in per_month.items()}


def _series(
    counts: dict[tuple[date, str], int], months: list[date], values: list[str]
) -> list[tuple[str, str, list[int]]]:
    return [
        (value.replace("_", " "), SERIES_CSS[i % len(SERIES_CSS)], [counts.get((m, value), 0) for m in months])
        for i, value in enumerate(values)
    ]


def build(now: datetime | None = None) -> PrivacyTrends:
    months = month_range(MONTHS, now)
    since = datetime(months[0].year, months[0].month, 1)
    by_type = _counts(PrivacyRequest.request_type, PrivacyRequest.received_at, since)
    by_source = _counts(PrivacyRequest.source, PrivacyRequest.received_at, since)
    done = _completions(since)
    medians = _medians(since)
    extended = _extensions(since)
    rows = []
    for m in months:
        completed, on_time = done.get(m, (0, 0))
        received = sum(n for (month, _), n in by_type.items() if month == m)
        median = round(medians[m], 1) if m in medians else None
        rows.append(MonthRow(m, received, completed, on_time, median, extended.get(m, 0)))
    types = [t.value for t in RequestType]
    sources = [s.value for s in RequestSource]
    completed_total = sum(r.completed for r in rows)
    on_time_total = sum(r.on_time for r in rows)
    return PrivacyTrends(
        rows=rows,
        by_type=charts.stacked_bars(months, _series(by_type, months, types)),
        by_source=charts.stacked_bars(months, _series(by_source, months, sources)),
        on_time=charts.line(months, [r.on_time_pct for r in rows], "completed by the due date", "%", monthly=True),
        median=charts.line(months, [r.median_days for r in rows], "median days to complete", " days", monthly=True),
        totals={
            "received": sum(r.received for r in rows),
            "completed": completed_total,
            "on_time_pct": round(100.0 * on_time_total / completed_total, 1) if completed_total else None,
            "extended": sum(r.extended for r in rows),
        },
    )
