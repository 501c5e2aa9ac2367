"""Who gets a conversation: the assign menu's choices, the assignee rule, auto-assignment.

Auto-assignment runs in the webhook worker's transaction, for conversations that arrive (new,
or reopened by an inbound message) on a page whose `auto_assign` is not `off`: an online Agent
or Support Manager under their capacity gets it (`round_robin`: whoever waited longest since
their last assignment; `balanced`: the least loaded). Nobody available: it stays unassigned.

Concurrency: the candidates' `user_availability` rows are locked (`SELECT ... FOR UPDATE`, in
user id order, after the batch's conversation locks) before their loads are counted, so two
workers assigning at once are serialised and never push anyone past their capacity. On
SQLite the webhook path already runs one writer at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import func, select

from app import db
from app.audit.service import record
from app.conversations.availability import Availability, UserAvailability
from app.conversations.exceptions import ConversationError
from app.conversations.models import Conversation, ConversationStatus
from app.core.models import sqlite_write_lock, utcnow
from app.core.roles import ROLE_ADMIN, ROLE_AGENT, ROLE_SUPPORT_MANAGER
from app.notifications.models import NotificationKind
from app.notifications.services import notify
from app.pages.models import AutoAssign
from app.pages.workspace import check_auto_assign

logger = logging.getLogger(__name__)

#: Who may be given a conversation by hand (a Privacy Officer could never answer it).
ASSIGNABLE_ROLES = (ROLE_ADMIN, ROLE_SUPPORT_MANAGER, ROLE_AGENT)
#: Who auto-assignment hands conversations to.
AUTO_ROLES = (ROLE_SUPPORT_MANAGER, ROLE_AGENT)
#: Conversations that count against a capacity ("open" work: not closed).
OPEN_STATUSES = (ConversationStatus.OPEN.value, ConversationStatus.PENDING.value)


def display_name(user: Any) -> str:
    """First and last name, or the username when both are empty."""
    name = " ".join(p for p in ((user.first_name or "").strip(), (user.last_name or "").strip()) if p)
    return name or user.username


def open_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """Open (not closed) conversations per assignee, in one grouped query."""
    ids = sorted(set(user_ids))
    counts = dict.fromkeys(ids, 0)
    if ids:
        rows = db.session.execute(
            select(Conversation.assignee_id, func.count())
            .where(Conversation.assignee_id.in_(ids), Conversation.status.in_(OPEN_STATUSES))
            .group_by(Conversation.assignee_id)
        )
        counts.update({int(uid): int(n) for uid, n in rows})
    return counts


def _assignable_query(roles: tuple[str, ...]) -> Any:
    return select(User).where(User.active.is_(True), User.roles.any(Role.name.in_(roles)))


@dataclass(frozen=True)
class Choice:
    """One entry of the assign menu."""

    id: int
    name: str
    open_count: int
    availability: str

    @property
    def label(self) -> str:
        away = "" if self.availability == Availability.ONLINE else ", away"
        return f"{self.name} ({self.open_count} open{away})"


def assignee_choices() -> list[Choice]:
    """Active users with an assignable role: display name, open conversations, availability."""
    users = list(db.session.scalars(_assignable_query(ASSIGNABLE_ROLES)))
    counts = open_counts(u.id for u in users)
    avail = {
        a.user_id: a.availability
        for a in db.session.scalars(select(UserAvailability).where(UserAvailability.user_id.in_(counts)))
    }
    choices = [Choice(u.id, display_name(u), counts[u.id], avail.get(u.id, Availability.AWAY.value)) for u in users]
    return sorted(choices, key=lambda c: (c.name.lower(), c.id))


def check_assignee(user_id: Any) -> None:
    """A conversation may go only to an active Admin, Support Manager or Agent (None: unassign)."""
    if user_id is None:
        return
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise ConversationError("assignee_id must be a user id", status=400)
    if db.session.scalar(_assignable_query(ASSIGNABLE_ROLES).where(User.id == user_id)) is None:
        raise ConversationError(
            "this user cannot be assigned conversations: only active staff who can reply "
            "(Admins, Support Managers, Agents)",
            status=400,
        )


def _notify_assignee(conversation_id: int, user_id: int) -> None:
    """Tell the assignee they have a new conversation: a bell notification (kind `assigned`) in
    the caller's transaction; nobody is notified of taking a conversation themselves."""
    notify(user_id, NotificationKind.ASSIGNED, conversation_id=conversation_id)
    logger.info("conversation %s assigned to user %s", conversation_id, user_id)


# ---------------------------------------------------------------------------- auto-assignment


@dataclass
class _Candidate:
    row: UserAvailability
    load: int


def _lock_candidates() -> list[_Candidate]:
    """Online Agents and Support Managers, their availability rows locked (user id order),
    with their loads counted after the lock (so they include every committed assignment)."""
    stmt = (
        select(UserAvailability)
        .where(
            UserAvailability.availability == Availability.ONLINE.value,
            UserAvailability.user_id.in_(_assignable_query(AUTO_ROLES).with_only_columns(User.id)),
        )
        .order_by(UserAvailability.user_id)
        .execution_options(populate_existing=True)
    )
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=UserAvailability)
    sqlite_write_lock(db.session.connection(), "conversation")  # SQLite: one writer from here on
    rows = list(db.session.scalars(stmt))
    loads = open_counts(r.user_id for r in rows)
    return [_Candidate(r, loads[r.user_id]) for r in rows]


def _pick(candidates: list[_Candidate], mode: str, previous: int | None) -> _Candidate | None:
    """The candidate for one conversation, or None when everyone is at capacity."""
    for c in candidates:  # a reopened conversation goes back to its assignee when they can
        if c.row.user_id == previous and c.load <= c.row.capacity:  # (its load counts it already)
            return c
    free = [c for c in candidates if c.load < c.row.capacity]
    if not free:
        return None
    never = datetime.min

    def turn(c: _Candidate) -> tuple[datetime, int]:
        return (c.row.last_assigned_at or never, c.row.user_id)

    if mode == AutoAssign.BALANCED:
        return min(free, key=lambda c: (c.load, *turn(c)))
    return min(free, key=turn)


def needs_assignment(conversation: Conversation) -> bool:
    """An arrival is handed out when it is open, has an inbound message and no available
    assignee; a reopened one keeps an assignee who is online and can still take it."""
    return (
        conversation.status == ConversationStatus.OPEN
        and conversation.last_inbound_at is not None
        and conversation.page is not None
        and conversation.page.auto_assign in (AutoAssign.ROUND_ROBIN, AutoAssign.BALANCED)
    )


def auto_assign(conversations: Iterable[Conversation]) -> dict[int, int]:
    """Assign arriving conversations (caller commits); returns {conversation id: user id}."""
    todo = sorted((c for c in conversations if needs_assignment(c)), key=lambda c: c.id)
    if not todo:
        return {}
    candidates = _lock_candidates()
    done: dict[int, int] = {}
    now = utcnow()
    for conv in todo:
        previous = conv.assignee_id
        pick = _pick(candidates, conv.page.auto_assign, previous)
        if pick is None:
            logger.info("conversation %s: nobody available to assign", conv.id)
            continue
        now += timedelta(microseconds=1)  # strictly increasing within a batch: turns stay fair
        pick.row.last_assigned_at = now
        if pick.row.user_id == previous:
            continue  # still theirs: counted already if it was open
        pick.load += 1
        conv.assignee_id = pick.row.user_id
        record(
            "conversation_assigned",
            "conversation",
            conv.id,
            {"assignee_id": [previous, pick.row.user_id], "auto_assign": conv.page.auto_assign},
        )
        _notify_assignee(conv.id, pick.row.user_id)
        done[conv.id] = pick.row.user_id
    return done


# ---------------------------------------------------------------------------- page settings


def update_page_settings(page: Any, auto_assign_mode: Any, csat_enabled: bool) -> None:
    """A Support Manager's (or Admin's) workspace settings for one page; audited, committed."""
    if not isinstance(csat_enabled, bool):
        raise ConversationError("csat_enabled must be true or false", status=400)
    mode = check_auto_assign(auto_assign_mode)  # PageError (400) when unknown
    diff: dict[str, Any] = {}
    if page.auto_assign != mode:
        diff["auto_assign"] = [page.auto_assign, mode]
    if bool(page.csat_enabled) != bool(csat_enabled):
        diff["csat_enabled"] = [bool(page.csat_enabled), bool(csat_enabled)]
    if not diff:
        return
    page.auto_assign = mode
    page.csat_enabled = bool(csat_enabled)
    record("page_workspace_settings_changed", "page", page.id, diff)
    db.session.commit()
