"""CSAT on the dashboard: average rating per day, per page and per agent (last 30 days).

One grouped query per dimension over `conversation.csat_answered_at` (indexed), so the home
page stays fast; each page/agent gets a small line chart like the other dashboard charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select

from app import db
from app.conversations.assignment import display_name
from app.conversations.models import Conversation
from app.dashboard import charts
from app.dashboard.services import DAYS, _as_date, _day, _since, day_range
from app.pages.models import Page

MAX_SERIES = 6  # charts per dimension (the busiest pages / agents)
PerDay = dict[int, dict[date, tuple[float, int]]]  # key -> day -> (average, answers)


@dataclass
class CsatSeries:
    """One page's or agent's CSAT: overall average, answers, and the chart per day."""

    key: int
    name: str
    average: float
    answers: int
    chart: charts.Chart


def _per_day(group_col: Any, now: datetime | None) -> PerDay:
    since = _since(DAYS, now)
    rows = db.session.execute(
        select(group_col, _day(Conversation.csat_answered_at), func.avg(Conversation.csat_score), func.count())
        .where(Conversation.csat_answered_at >= since, Conversation.csat_score.is_not(None), group_col.is_not(None))
        .group_by(group_col, _day(Conversation.csat_answered_at))
    ).all()
    out: PerDay = {}
    for key, day, avg, count in rows:
        out.setdefault(int(key), {})[_as_date(day)] = (float(avg), int(count))
    return out


def _series(
    data: dict[int, dict[date, tuple[float, int]]], names: dict[int, str], now: datetime | None
) -> list[CsatSeries]:
    days = day_range(DAYS, now)
    result = []
    for key, per_day in data.items():
        answers = sum(n for _, n in per_day.values())
        average = sum(avg * n for avg, n in per_day.values()) / answers
        values = [round(per_day[d][0], 2) if d in per_day else None for d in days]
        chart = charts.line(days, values, "average rating (1-5)")
        result.append(CsatSeries(key, names.get(key, f"#{key}"), round(average, 2), answers, chart))
    result.sort(key=lambda s: (-s.answers, s.name.lower()))
    return result[:MAX_SERIES]


def csat_by_page(now: datetime | None = None) -> list[CsatSeries]:
    data = _per_day(Conversation.page_id, now)
    names = {p.id: p.name for p in db.session.scalars(select(Page).where(Page.id.in_(data)))} if data else {}
    return _series(data, names, now)


def csat_by_agent(now: datetime | None = None) -> list[CsatSeries]:
    data = _per_day(Conversation.assignee_id, now)
    names = {u.id: display_name(u) for u in db.session.scalars(select(User).where(User.id.in_(data)))} if data else {}
    return _series(data, names, now)


def build(now: datetime | None = None) -> dict[str, list[CsatSeries]]:
    return {"pages": csat_by_page(now), "agents": csat_by_agent(now)}
