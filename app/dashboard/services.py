"""Numbers for the dashboard."""

from __future__ import annotations

from sqlalchemy import func, select

from app import db
from app.conversations.models import Conversation


def summary() -> dict[str, int]:
    open_count = db.session.scalar(select(func.count()).select_from(Conversation).where(Conversation.status == "open"))
    unassigned = db.session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.status == "open", Conversation.assignee_id.is_(None))
    )
    return {"open": open_count or 0, "unassigned": unassigned or 0}
