"""Due dates and urgency, per jurisdiction.

GDPR Art. 12(3): one calendar month after receipt, extendable once by two further months.
CCPA (Cal. Civ. Code §1798.130(a)(2)): 45 days, extendable once by 45 more. Calendar months are
added with `relativedelta`, which clips to the month's last day (31 Jan + 1 month = 28/29 Feb),
and the extension is added to the first due date, so 31 Jan → 28 Feb → 28 Apr: the earlier
of the two readings, which never leaves a requester waiting longer than the law allows.
"""

from __future__ import annotations

from datetime import datetime

from dateutil.relativedelta import relativedelta  # type: ignore[import-untyped]  # no types-python-dateutil in the venv

from app.core.models import utcnow
from app.privacy.models import OPEN_STATUSES, Jurisdiction, PrivacyRequest

FIRST_PERIOD = {Jurisdiction.GDPR: relativedelta(months=1), Jurisdiction.CCPA: relativedelta(days=45)}
EXTENSION = {Jurisdiction.GDPR: relativedelta(months=2), Jurisdiction.CCPA: relativedelta(days=45)}
EXTENSION_TEXT = {Jurisdiction.GDPR: "two months", Jurisdiction.CCPA: "45 days"}


def check_jurisdiction(value: str | None) -> Jurisdiction:
    """A known jurisdiction (default GDPR), or ValueError naming the allowed ones."""
    try:
        return Jurisdiction(value or Jurisdiction.GDPR)
    except ValueError:
        raise ValueError(f"jurisdiction must be one of {', '.join(j.value for j in Jurisdiction)}") from None


def due_date(received_at: datetime, jurisdiction: str = Jurisdiction.GDPR) -> datetime:
    """GDPR: one calendar month after receipt (31 Jan -> 28/29 Feb); CCPA: 45 days."""
    due: datetime = received_at + FIRST_PERIOD[Jurisdiction(jurisdiction)]
    return due


def extended_due_date(due_at: datetime, jurisdiction: str) -> datetime:
    """The due date after the one extension: GDPR + two months, CCPA + 45 days."""
    due: datetime = due_at + EXTENSION[Jurisdiction(jurisdiction)]
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
