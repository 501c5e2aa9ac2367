"""Inbox counts (tab badges, "1-100 of N") kept a moment in Redis, shared by every worker.

Why: each inbox page and each 3-second live poll asked the database for five tab counts and
the listing's count (up to 10,001 index entries each); at 1 M conversations those were most
of the page's database time, and every agent asked the same questions. A count is now kept
`COUNT_TTL_MS` under a key that carries a generation number. A commit that wrote a
conversation or a label (ORM flush or bulk UPDATE/DELETE) bumps the generation, so a change
shows at once; what no commit announces (a reply window closing as time passes, raw SQL)
shows within the TTL. With the page polling every 3 s, counts are right within 5 s (DESIGN.md
"Agent workspace"). Redis down: counts are computed every time, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import event, inspect
from sqlalchemy.orm import InstanceState, ORMExecuteState, Session

from app.conversations.models import Conversation, ConversationLabel
from app.core.queues import get_redis

logger = logging.getLogger(__name__)

COUNT_TTL_MS = 2000  # + the 3 s poll = counts right within 5 s
GEN_KEY = "inbox:counts:gen"
KEY_PREFIX = "inbox:count"
_DIRTY = "inbox_counts_dirty"
_WATCHED = (Conversation, ConversationLabel)
_WATCHED_TABLES = frozenset({"conversation", "conversation_label"})
_COUNTED_COLUMNS = ("status", "assignee_id", "awaiting_reply", "window_expires_at", "priority", "channel", "page_id")


def counts(specs: Mapping[str, tuple[str, Callable[[], int]]]) -> dict[str, int]:
    """{name: (cache key, compute)} → {name: count}: two Redis round trips, and a database
    count only for the keys not cached in this generation."""
    try:
        redis = get_redis()
        gen = int(redis.get(GEN_KEY) or 0)
        keys = {name: f"{KEY_PREFIX}:{gen}:{key}" for name, (key, _compute) in specs.items()}
        cached = redis.mget(list(keys.values()))
    except (RedisError, OSError, ValueError):
        logger.warning("inbox counts: Redis unavailable, counting in the database")
        return {name: compute() for name, (_key, compute) in specs.items()}
    out: dict[str, int] = {}
    missing: dict[str, int] = {}
    for (name, (_key, compute)), raw in zip(specs.items(), cached, strict=True):
        if raw is None:
            out[name] = missing[name] = compute()
        else:
            out[name] = int(raw)
    if missing:
        try:
            with redis.pipeline(transaction=False) as pipe:
                for name, value in missing.items():
                    pipe.set(keys[name], value, px=COUNT_TTL_MS)
                pipe.execute()
        except (RedisError, OSError):
            logger.warning("inbox counts: could not store counts in Redis")
    return out


def bump() -> None:
    """A new generation: every cached count is out of date from now on."""
    try:
        get_redis().incr(GEN_KEY)
    except (RedisError, OSError):
        logger.warning("inbox counts: could not bump the generation; counts catch up within the TTL")


def _changes_counts(obj: Any) -> bool:
    """An update of a column some queue counts by (opening a conversation, which only marks it
    read, leaves the cached counts alone)."""
    if isinstance(obj, ConversationLabel):
        return True
    if not isinstance(obj, Conversation):
        return False
    state: InstanceState[Conversation] = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in _COUNTED_COLUMNS)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    added_or_deleted = any(isinstance(obj, _WATCHED) for obj in (*session.new, *session.deleted))
    if added_or_deleted or any(_changes_counts(obj) for obj in session.dirty):
        session.info[_DIRTY] = True


@event.listens_for(Session, "do_orm_execute")
def _on_bulk(state: ORMExecuteState) -> None:
    """Bulk UPDATE/DELETE (retention, erasure) skip the flush: note them here."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        state.session.info[_DIRTY] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
