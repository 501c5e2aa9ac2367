"""`search backfill` and `search rebuild`: walk the messages by id in batches, committing each.

Backfill indexes messages that have no tokens yet (those stored before the index existed);
rebuild re-writes every message's tokens under the current SEARCH_KEY (after a rotation).
Progress is kept in `search_index_state` with a fingerprint of the key, so an interrupted run
resumes after its last committed batch; a run under another key starts again from the start.
Messages written meanwhile are indexed by the worker under the current key, so a rebuild may
touch them again harmlessly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from app import db
from app.conversations.models import Message
from app.core.models import utcnow
from app.search import services
from app.search.exceptions import SearchError
from app.search.models import MessageSearchToken, SearchIndexState

MODES = ("backfill", "rebuild")
DEFAULT_BATCH_SIZE = 1000


@dataclass
class RunReport:
    mode: str
    resumed_from: int = 0
    scanned: int = 0
    indexed: int = 0
    tokens: int = 0
    done: bool = False


def _state(mode: str, fingerprint: str, restart: bool) -> tuple[SearchIndexState, int]:
    """The run's bookkeeping row and the message id to continue after."""
    state = db.session.get(SearchIndexState, mode)
    if state is None:
        state = SearchIndexState(name=mode, key_fingerprint=fingerprint, last_message_id=0, done=0)
        db.session.add(state)
    elif state.key_fingerprint != fingerprint or restart or state.done:
        state.key_fingerprint, state.last_message_id, state.done = fingerprint, 0, 0
    return state, state.last_message_id


def check_run(mode: str, batch_size: int) -> None:
    if mode not in MODES:
        raise SearchError(f"mode must be one of {', '.join(MODES)}")
    if not 1 <= batch_size <= 100000:
        raise SearchError("batch size must be from 1 to 100000")


def _batch(mode: str, after: int, batch_size: int, key: bytes) -> tuple[int, int, int, int]:
    """One batch: (last id, messages scanned, messages indexed, tokens written)."""
    rows = db.session.execute(
        select(Message.id, Message.conversation_id, Message.created_at, Message.text)
        .where(Message.id > after)
        .order_by(Message.id)
        .limit(batch_size)
    ).all()
    if not rows:
        return after, 0, 0, 0
    last = rows[-1].id
    conn = db.session.connection()
    todo = [services.Indexable(*r) for r in rows if r.text]
    if mode == "rebuild":
        services.do_unindex_range(conn, after, last)
    elif todo:
        have = set(
            db.session.scalars(
                select(MessageSearchToken.message_id)
                .where(MessageSearchToken.message_id.in_([m.message_id for m in todo]))
                .distinct()
            )
        )
        todo = [m for m in todo if m.message_id not in have]
    tokens = services.do_index(conn, todo, key)
    return last, len(rows), len(todo), tokens


def do_run(
    mode: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    restart: bool = False,
    max_batches: int | None = None,
    echo: Callable[[str], None] = lambda _msg: None,
) -> RunReport:
    """Backfill or rebuild the index, batch by batch (each batch committed); resumable."""
    check_run(mode, batch_size)
    key = services.current_key()
    state, after = _state(mode, services.key_fingerprint(key), restart)
    db.session.commit()
    report = RunReport(mode, resumed_from=after)
    total = int(db.session.scalar(select(func.count(Message.id)).where(Message.id > after)) or 0)
    if after:
        echo(f"{mode}: resuming after message {after}")
    batches = 0
    while max_batches is None or batches < max_batches:
        last, scanned, indexed, tokens = _batch(mode, after, batch_size, key)
        if not scanned:
            state.done = 1
            report.done = True
        state.last_message_id, state.updated_at = last, utcnow()
        db.session.commit()
        if not scanned:
            break
        after, batches = last, batches + 1
        report.scanned += scanned
        report.indexed += indexed
        report.tokens += tokens
        echo(f"  {mode}: {report.scanned}/{total} messages, {report.indexed} indexed ({report.tokens} tokens)")
    return report
