"""The Privacy Officers' daily digest: requests due within 7 days and overdue.

Each active Privacy Officer gets one mail (through app.mail: durable, retried) and an in-app
notification per request. Both are idempotent per day, so a second run the same day (a retry,
"Run now", the CLI) adds nothing. Neither holds personal data: ids, types, statuses and dates
only, and a link to the request page behind the login.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import current_app
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import select

from app import db
from app.core.models import utcnow
from app.core.roles import ROLE_PRIVACY_OFFICER
from app.mail.exceptions import MailError
from app.mail.models import MailMessage
from app.mail.services import queue_mail
from app.notifications.models import Notification, NotificationKind
from app.notifications.services import notify
from app.privacy.models import OPEN_STATUSES, PrivacyRequest

logger = logging.getLogger(__name__)

DUE_WITHIN_DAYS = 7
MAX_LISTED = 200  # a mail lists at most this many requests (the rest: "and N more")
MAIL_KIND = "privacy_digest"
NOTIFY_KINDS = (NotificationKind.PRIVACY_DUE.value, NotificationKind.PRIVACY_OVERDUE.value)


@dataclass(frozen=True)
class DueItem:
    """One line of the digest: nothing that names or quotes the data subject."""

    id: int
    request_type: str
    status: str
    due_at: datetime
    days_left: int  # calendar days; negative: overdue by that many days
    extended: bool
    overdue: bool  # past its due time (as the list's colours and the overdue filter say)


@dataclass
class DigestResult:
    due: int = 0
    overdue: int = 0
    mails: int = 0
    notifications: int = 0
    officers: list[int] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.overdue} overdue, {self.due} due within {DUE_WITHIN_DAYS} days; "
            f"{self.mails} mail(s) queued, {self.notifications} notification(s) added"
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min)


def due_items(now: datetime | None = None) -> list[DueItem]:
    """Open requests whose due date is at most 7 calendar days away (or past), soonest first."""
    now = now or utcnow()
    today = now.date()
    rows = db.session.execute(
        select(
            PrivacyRequest.id,
            PrivacyRequest.request_type,
            PrivacyRequest.status,
            PrivacyRequest.due_at,
            PrivacyRequest.extended_at,
        )
        .where(
            PrivacyRequest.status.in_(OPEN_STATUSES),
            PrivacyRequest.due_at < _midnight(today + timedelta(days=DUE_WITHIN_DAYS + 1)),
        )
        .order_by(PrivacyRequest.due_at.asc(), PrivacyRequest.id.asc())
    ).all()
    return [
        DueItem(
            r.id,
            r.request_type,
            r.status,
            r.due_at,
            (r.due_at.date() - today).days,
            r.extended_at is not None,
            r.due_at < now,
        )
        for r in rows
    ]


def active_officers() -> list[User]:
    """Active accounts holding the Privacy Officer role."""
    query = (
        select(User).join(User.roles).where(Role.name == ROLE_PRIVACY_OFFICER, User.active.is_(True)).order_by(User.id)
    )
    return list(db.session.scalars(query).unique())


def request_url(request_id: int) -> str:
    base = str(current_app.config.get("PUBLIC_BASE_URL", "")).rstrip("/")
    return f"{base}/privacyrequestmodelview/show/{request_id}"


def _when(item: DueItem) -> str:
    if item.overdue:
        n = -item.days_left
        return f"overdue by {n} day{'s' if n != 1 else ''}" if n > 0 else "overdue since today"
    if item.days_left == 0:
        return "due today"
    return f"{item.days_left} day{'s' if item.days_left != 1 else ''} left"


def render(items: list[DueItem], today: date) -> tuple[str, str]:
    """Subject and plain-text body of the digest."""
    overdue = [i for i in items if i.overdue]
    soon = [i for i in items if not i.overdue]
    subject = f"Privacy requests: {len(overdue)} overdue, {len(soon)} due within {DUE_WITHIN_DAYS} days"
    lines = [
        f"Privacy requests that need you, as of {today.isoformat()} (UTC).",
        "Ids, types and dates only: open each request in Omni CRM for its details.",
        "",
    ]
    listed = 0
    for title, group in (("Overdue", overdue), (f"Due within {DUE_WITHIN_DAYS} days", soon)):
        if not group:
            continue
        lines.append(f"{title} ({len(group)}):")
        for item in group:
            if listed >= MAX_LISTED:
                break
            extended = ", extended" if item.extended else ""
            lines.append(
                f"- #{item.id} {item.request_type} ({item.status}{extended}): due {item.due_at.date().isoformat()}, "
                f"{_when(item)}. {request_url(item.id)}"
            )
            listed += 1
        lines.append("")
    if listed < len(items):
        lines.append(f"... and {len(items) - listed} more: see the privacy request list's overdue filter.")
    lines.append("You receive this daily while requests are due within 7 days or overdue.")
    return subject, "\n".join(lines) + "\n"


def _mailed_today(today: date) -> set[str]:
    """Addresses that already got today's digest (addresses are encrypted: compared in Python,
    over today's few digest rows)."""
    rows = db.session.scalars(
        select(MailMessage).where(MailMessage.kind == MAIL_KIND, MailMessage.created_at >= _midnight(today))
    )
    return {row.to_address.lower() for row in rows}


def _notified_today(today: date, request_ids: list[int]) -> set[tuple[int, int]]:
    rows = db.session.execute(
        select(Notification.user_id, Notification.privacy_request_id).where(
            Notification.kind.in_(NOTIFY_KINDS),
            Notification.privacy_request_id.in_(request_ids),
            Notification.created_at >= _midnight(today),
        )
    ).all()
    return {(int(u), int(r)) for u, r in rows}


def _notify_officer(officer: User, items: list[DueItem], seen: set[tuple[int, int]]) -> int:
    added = 0
    for item in items:
        if (officer.id, item.id) in seen:
            continue
        kind = NotificationKind.PRIVACY_OVERDUE if item.overdue else NotificationKind.PRIVACY_DUE
        row = notify(officer.id, kind, privacy_request_id=item.id)
        added += 1 if row.id is not None else 0
    return added


def run_digest(now: datetime | None = None) -> DigestResult:
    """Mail and notify every active Privacy Officer once per day; nothing when nothing is due."""
    now = now or utcnow()
    today = now.date()
    items = due_items(now)
    result = DigestResult(due=sum(1 for i in items if not i.overdue), overdue=sum(1 for i in items if i.overdue))
    if not items:
        return result
    subject, body = render(items, today)
    mailed = _mailed_today(today)
    seen = _notified_today(today, [i.id for i in items])
    for officer in active_officers():
        result.officers.append(officer.id)
        result.notifications += _notify_officer(officer, items, seen)
        if (officer.email or "").lower() in mailed:
            continue
        try:
            queue_mail(officer.email, subject, body, kind=MAIL_KIND)
        except MailError:
            logger.warning("privacy digest: user %s has no usable e-mail address", officer.id)
            continue
        mailed.add(officer.email.lower())
        result.mails += 1
    db.session.commit()
    return result
