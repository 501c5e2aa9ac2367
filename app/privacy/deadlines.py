"""Due dates and urgency: one calendar month to answer (GDPR Art. 12(3))."""

from __future__ import annotations

from datetime import datetime

from dateutil.relativedelta import relativedelta  # type: ignore[import-untyped]  # no types-python-dateutil in the venv

from app.core.models import utcnow
from app.privacy.models import OPEN_STATUSES, PrivacyRequest


def due_date(received_at: datetime) -> datetime:
    """One calendar month after receipt (GDPR Art. 12(3)); 31 Jan -> 28/29 Feb."""
    due: datetime = received_at + relativedelta(months=1)
    return due


def days_left(req: PrivacyRequest, now: datetime | None = None) -> int:
    """Whole days until due (negative when overdue)."""
    now = now or utcnow()
    return (req.due_at.date() - now.date()).days


def urgency(req: PrivacyRequest, now: datetime | None = None) -> str:
    """green / amber (<= 9 days) / red (<= 4) / overdue; closed requests are 'closed'."""
    if req.status not in OPEN_STATUSES:
        return "closed"
    now = now or utcnow()
    if req.due_at < now:
        return "overdue"
    left = days_left(req, now)
    if left <= 4:
        return "red"
    if left <= 9:
        return "amber"
    return "green"
