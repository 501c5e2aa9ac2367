"""Who is taking conversations now: availability (`online`/`away`) and capacity per user.

One `user_availability` row per staff user, created on first use (no row = away, capacity
DEFAULT_CAPACITY). Auto-assignment (assignment.py) locks these rows while it picks someone, so
concurrent arrivals never push anyone over their capacity.
"""

# mypy: allow-subclassing-any
# (Flask-AppBuilder ships no type hints: its Model is Any to mypy.)
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app import db
from app.audit.service import record
from app.conversations.exceptions import ConversationError
from app.core.models import utcnow

DEFAULT_CAPACITY = 20
MAX_CAPACITY = 1000


class Availability(StrEnum):
    ONLINE = "online"
    AWAY = "away"


class UserAvailability(Model):
    __tablename__ = "user_availability"

    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    availability: Mapped[str] = mapped_column(
        String(16), nullable=False, default=Availability.AWAY.value, server_default=Availability.AWAY.value
    )
    capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_CAPACITY, server_default="20")
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime)

    def as_dict(self) -> dict[str, Any]:
        return {"availability": self.availability, "capacity": self.capacity}


class AvailabilityError(ConversationError):
    """Bad availability input (the API answers 400)."""

    status = 400


def get(user_id: int) -> UserAvailability:
    """The user's row (unsaved default when they never set one: away, capacity 20)."""
    row = db.session.get(UserAvailability, user_id)
    if row is None:
        row = UserAvailability(
            user_id=user_id, availability=Availability.AWAY.value, capacity=DEFAULT_CAPACITY, updated_at=utcnow()
        )
    return row


def check_update(body: Any) -> dict[str, Any]:
    """The fields to change, validated: `availability` online/away, `capacity` 0..1000."""
    if not isinstance(body, dict):
        raise AvailabilityError('send a JSON object: {"availability": "online"|"away", "capacity": 20}')
    unknown = set(body) - {"availability", "capacity"}
    if unknown:
        raise AvailabilityError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    if not body:
        raise AvailabilityError("nothing to change: send availability and/or capacity")
    changes: dict[str, Any] = {}
    if "availability" in body:
        value = body["availability"]
        if value not in tuple(Availability):
            raise AvailabilityError('availability must be "online" or "away"')
        changes["availability"] = str(value)
    if "capacity" in body:
        value = body["capacity"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
            raise AvailabilityError(f"capacity must be a whole number from 0 to {MAX_CAPACITY}")
        changes["capacity"] = value
    return changes


def do_update(user_id: int, changes: dict[str, Any], *, commit: bool = True) -> UserAvailability:
    """Save the user's availability/capacity (audited only when something changed)."""
    row = get(user_id)
    before = {"availability": row.availability, "capacity": row.capacity}
    diff = {k: [before[k], v] for k, v in changes.items() if before[k] != v}
    for key, value in changes.items():
        setattr(row, key, value)
    if diff or db.session.get(UserAvailability, user_id) is None:
        row.updated_at = utcnow()
        db.session.add(row)
        if diff:
            record("availability_changed", "ab_user", user_id, diff)
    if commit:
        db.session.commit()
    return row


def set_away_on_logout(user_id: int) -> None:
    """Logging out makes the user away (a no-op when they already are)."""
    row = db.session.get(UserAvailability, user_id)
    if row is not None and row.availability != Availability.AWAY:
        do_update(user_id, {"availability": Availability.AWAY.value})
