"""Notification rules: who is notified of what, and marking read (always the owner's own rows).

Other domains call `notify(...)`; views and the API only ever pass the caller's own user id.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from app import db
from app.core.context import current_actor
from app.core.models import utcnow
from app.notifications.exceptions import NotificationError
from app.notifications.models import Notification

PAGE_SIZE = 50
UNREAD_CAP = 100
#: kinds beyond NotificationKind are allowed (shown by name), so a new caller never fails here
KIND_PATTERN = re.compile(r"^[a-z][a-z_]{0,31}$")


def notify(
    user_id: int,
    kind: str,
    *,
    conversation_id: int | None = None,
    privacy_request_id: int | None = None,
    actor_id: int | None = None,
) -> Notification:
    """Add one notification for `user_id` in the caller's transaction (the caller commits).

    Nobody is notified of their own action (a self-mention, taking a conversation oneself):
    then nothing is added and the unsaved row is returned.
    """
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise NotificationError(f"a notification kind is a short lower-case word, not {kind!r}")
    actor_id = actor_id if actor_id is not None else current_actor().id  # who caused it
    row = Notification(
        user_id=user_id,
        kind=str(kind),
        conversation_id=conversation_id,
        privacy_request_id=privacy_request_id,
        actor_id=actor_id,
        created_at=utcnow(),
    )
    if actor_id is not None and actor_id == user_id:
        return row
    db.session.add(row)
    db.session.flush()
    return row


def unread_count(user_id: int, cap: int = UNREAD_CAP) -> int:
    """The bell's number, counted up to `cap` (shown as "99+"): every page asks, so it reads at
    most `cap` index entries however many notifications pile up."""
    unread = (
        select(Notification.id)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(cap)
        .subquery()
    )
    return int(db.session.execute(select(func.count()).select_from(unread)).scalar_one())


def recent(user_id: int, limit: int = PAGE_SIZE) -> list[Notification]:
    """The person's notifications, newest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())  # ids follow creation: the (user_id, id) index serves it
        .limit(limit)
    )
    return list(db.session.scalars(query))


def own(user_id: int, notification_id: int) -> Notification | None:
    """One of the person's notifications; someone else's is None (the caller answers 404)."""
    row = db.session.get(Notification, notification_id)
    return row if row is not None and row.user_id == user_id else None


def mark_read(user_id: int, notification_id: int) -> Notification | None:
    """Mark one of the person's notifications read (already read: unchanged)."""
    row = own(user_id, notification_id)
    if row is not None and row.read_at is None:
        row.read_at = utcnow()
        db.session.commit()
    return row


def mark_all_read(user_id: int) -> int:
    """Mark every unread notification of the person read; returns how many."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def check_update(row: Notification, user_id: int) -> None:
    """The REST edit: only the owner, and only `read_at` (the API allows no other column)."""
    if row.user_id != user_id:
        raise NotificationError("not your notification", status=404)
