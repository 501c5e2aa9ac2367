"""Outbound jobs: send queued replies in order, retry transient failures, reconcile crashes.

A burst of replies shares "drain" jobs instead of paying RQ's per-job cost (and three commits)
per message: a drain job claims up to CLAIM_BATCH due replies in one transaction, sends them
one by one and commits the outcomes in groups (at most FLUSH_SECONDS apart). A drain that
claimed a full batch queues one more drain job first, so idle workers join in.

Ordering: a reply is claimed only together with every older pending reply of its
conversation (the claim stops at a reply that is in flight elsewhere, waiting to retry, or
row-locked by another worker's claim), and a claimed batch is sent oldest first; a retryable
failure releases the conversation's later replies unsent. So a later reply never overtakes
an earlier one, whatever the number of workers.

Never sending twice silently: the claim commits "sending" before any Graph call, and puts
the claimed ids in a Redis set of unattempted sends. Before its Graph calls a worker removes
the next ATTEMPT_GROUP ids from that set (SREM, atomic per id) and sends only those it
removed. If the worker dies, `reconcile_sending` settles rows stuck in "sending": an id still in the set
was provably never attempted and is queued again; any other row may have gone out, so it
is left for the agent to check (unless an echo with our metadata already marked it sent).
If Redis lost the set, every stuck row is treated as possibly sent: the safe side.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from app import db
from app.audit.service import append_rows, make_row, record
from app.contacts.models import Contact
from app.conversations import outbound_media
from app.conversations.models import OUR_METADATA_PREFIX, Conversation, Direction, Message, MessageStatus
from app.conversations.outbound import (
    DRAIN_FLAG,
    OUTBOUND_QUEUE,
    enqueue_send,
    graph_client,
    send_refusal,
    signal_send,
)
from app.core.context import current_actor, current_request_id
from app.core.exceptions import DomainError
from app.core.models import sqlite_write_lock, utcnow
from app.core.queues import get_queue, get_redis, task
from app.messenger.client import PermanentGraphError, ReauthRequiredError, RetryableGraphError
from app.pages.models import Page
from app.pages.services import mark_needs_reauth

logger = logging.getLogger(__name__)

#: Seconds to wait before each retry of a transient failure; then the message fails.
BACKOFF = (10, 30, 120, 600)
STUCK_AFTER = timedelta(minutes=2)
REAUTH_REASON = "the page's access token expired or was revoked (Graph error 190): replace the token, then retry"
#: Replies claimed per transaction; sends left when a batch runs past BATCH_SECONDS go back.
CLAIM_BATCH = 100
BATCH_SECONDS = 30.0
#: Outcomes are committed at least this often (what the agent sees as "sent").
FLUSH_SECONDS = 0.25
ATTEMPT_GROUP = 10
DRAIN_MAX_SECONDS = 120.0
#: Redis: ids claimed but not yet attempted (the drain-queued flag lives in outbound.py).
UNATTEMPTED_KEY = "omnicrm:outbound:unattempted"


@dataclass
class _Send:
    """What one claimed reply needs for its Graph call (plain values: commits don't expire it)."""

    id: int
    conversation_id: int
    page_id: int
    fb_page_id: str
    token: str
    psid: str
    text: str | None
    messaging_type: str
    tag: str | None
    refused: str | None  # the page/contact rule that now forbids sending, if any
    quick_replies: list[dict[str, Any]] | None = None  # e.g. the CSAT question's 1-5 buttons
    media: outbound_media.OutMedia | None = None  # a file: uploaded once, sent by attachment_id


# ---------------------------------------------------------------------------- claiming


def _claim(limit: int, due_anyway: int | None = None) -> list[_Send]:
    """Claim up to `limit` due replies (with every older pending reply of their conversation)."""

    conn = db.session.connection()
    sqlite_write_lock(conn, "message")  # no other process claims between our read and write
    now = utcnow()
    due = or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now)
    if due_anyway is not None:  # a scheduled retry's own message is due (clocks may differ)
        due = or_(due, Message.id == due_anyway)
    candidates = (
        select(Message.id, Message.conversation_id)
        .where(Message.direction == Direction.OUT, Message.status == MessageStatus.QUEUED, due)
        .order_by(Message.created_at, Message.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = db.session.execute(candidates).all()
    if not rows:
        db.session.commit()
        return []
    locked = {r.id for r in rows}
    pending = db.session.execute(
        select(Message.id, Message.conversation_id, Message.status, Message.next_attempt_at)
        .where(
            Message.conversation_id.in_(sorted({r.conversation_id for r in rows})),
            Message.direction == Direction.OUT,
            Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
        )
        .order_by(Message.conversation_id, Message.created_at, Message.id)
    ).all()
    take: list[int] = []
    blocked: set[int] = set()
    for row in pending:
        if row.conversation_id in blocked:
            continue
        if row.id in locked and row.status == MessageStatus.QUEUED:
            take.append(row.id)
        else:  # in flight, waiting to retry, or claimed by another worker: later replies wait
            blocked.add(row.conversation_id)
    if not take:
        db.session.commit()
        return []
    db.session.execute(
        update(Message)
        .where(Message.id.in_(take), Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SENDING, send_started_at=now, attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    sends = _load_sends(take)
    get_redis().sadd(UNATTEMPTED_KEY, *take)  # before the commit: Redis down claims nothing
    db.session.commit()
    return sends


def _load_sends(ids: list[int]) -> list[_Send]:
    """The claimed replies with what their Graph calls need, oldest first, in two queries
    (plain columns: no per-row lazy loads, each page's token decrypted once)."""
    rows = db.session.execute(
        select(
            Message.id,
            Message.conversation_id,
            Message.text,
            Message.messaging_type,
            Message.tag,
            Message.meta,
            Conversation.page_id,
            Contact.psid,
            Contact.erased_at,
            Contact.restricted,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(Contact, Contact.id == Conversation.contact_id)
        .where(Message.id.in_(ids))
        .order_by(Message.created_at, Message.id)
    ).all()
    pages = {
        p.id: p
        for p in db.session.execute(
            select(Page.id, Page.fb_page_id, Page.access_token, Page.needs_reauth, Page.token_scopes).where(
                Page.id.in_({r.page_id for r in rows})
            )
        )
    }
    sends, media = [], outbound_media.load(ids)
    for r in rows:
        page = pages.get(r.page_id)
        sends.append(
            _Send(
                id=r.id,
                conversation_id=r.conversation_id,
                page_id=r.page_id,
                fb_page_id=page.fb_page_id if page else "",
                token=(page.access_token or "") if page else "",
                psid=r.psid or "",
                text=r.text,
                messaging_type=r.messaging_type or "RESPONSE",
                tag=r.tag,
                refused=send_refusal(page, r),
                quick_replies=_quick_replies(r.meta),
                media=media.get(r.id),
            )
        )
    return sends


def _quick_replies(meta: Any) -> list[dict[str, Any]] | None:
    """Quick-reply buttons stored with a queued message (the CSAT survey), if any."""
    replies = meta.get("quick_replies") if isinstance(meta, dict) else None
    return replies if isinstance(replies, list) and replies else None


def _take_attempts(ids: list[int]) -> set[int]:
    """Right before their Graph calls: the ids this worker removed from the unattempted set,
    so may send. Taken ATTEMPT_GROUP at a time (one round trip); a crash leaves at most that
    many "possibly sent" for the agent to check, never a double send."""
    pipe = get_redis().pipeline(transaction=False)
    for message_id in ids:
        pipe.srem(UNATTEMPTED_KEY, message_id)
    return {message_id for message_id, removed in zip(ids, pipe.execute(), strict=True) if removed}


def _release(ids: list[int]) -> None:
    """Claimed but never attempted: back to queued, as if never claimed."""
    if not ids:
        return
    get_redis().srem(UNATTEMPTED_KEY, *ids)
    db.session.execute(
        update(Message)
        .where(Message.id.in_(ids), Message.status == MessageStatus.SENDING)
        .values(status=MessageStatus.QUEUED, send_started_at=None, attempts=Message.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


# ---------------------------------------------------------------------------- sending


@task
def send_message(message_id: int | None = None) -> str:
    """The drain job: send due replies, oldest first, batch by batch. Returns a summary.

    `message_id` is set on a scheduled retry: that message counts as due.
    """
    get_redis().delete(DRAIN_FLAG)
    started = time.monotonic()
    sent = failed = 0
    while True:
        batch = _claim(CLAIM_BATCH, due_anyway=message_id)
        message_id = None
        if not batch:
            break
        if len(batch) == CLAIM_BATCH:
            signal_send()  # more may be waiting: let an idle worker take the next batch
        s, f = _send_batch(batch)
        sent, failed = sent + s, failed + f
        if time.monotonic() - started > DRAIN_MAX_SECONDS:
            signal_send()  # a long stream hands over to a fresh job
            break
    return f"sent {sent}, not sent {failed}"


def _send_batch(batch: list[_Send]) -> tuple[int, int]:
    """Send a claimed batch in order; commit outcomes every FLUSH_SECONDS. Returns (sent, not)."""
    done: list[dict[str, Any]] = []
    held_conversations: set[int] = set()
    held_pages: set[int] = set()
    unsent: list[int] = []
    owned: set[int] = set()
    failed = sent = 0
    started = last_flush = time.monotonic()
    for i, item in enumerate(batch):
        if item.conversation_id in held_conversations or item.page_id in held_pages:
            unsent.append(item.id)
            continue
        if time.monotonic() - started > BATCH_SECONDS:
            unsent.extend(m.id for m in batch[i:])
            break
        if item.refused:
            _flush_sent(done)
            _fail(db.session.get(Message, item.id), "refused", item.refused)
            db.session.commit()
            failed += 1
            continue
        if item.id not in owned:
            group = [m.id for m in batch[i : i + ATTEMPT_GROUP] if not m.refused]
            owned = _take_attempts(group)
            if item.id not in owned:
                continue  # reconcile_sending took it back: it was never attempted
        try:
            client = graph_client()
            mid = client.send_message(
                item.fb_page_id,
                item.token,
                item.psid,
                item.text,
                attachment=outbound_media.graph_attachment(client, item.fb_page_id, item.token, item.media)
                if item.media
                else None,
                messaging_type=item.messaging_type,
                tag=item.tag,
                metadata=f"{OUR_METADATA_PREFIX}{item.id}",
                quick_replies=item.quick_replies,
            )
        except (RetryableGraphError, ReauthRequiredError, PermanentGraphError, DomainError) as exc:
            _flush_sent(done)
            failed += 1
            outcome = _handle_failure(item, exc, later=[m.id for m in batch[i + 1 :]])
            if outcome == "retry":
                held_conversations.add(item.conversation_id)
            elif outcome == "reauth":
                held_pages.add(item.page_id)
            continue
        sent += 1
        done.append({"b_id": item.id, "b_mid": mid, "b_at": utcnow(), "conversation_id": item.conversation_id})
        if time.monotonic() - last_flush >= FLUSH_SECONDS:
            _flush_sent(done)
            last_flush = time.monotonic()
    _flush_sent(done)
    _release(unsent)
    # refused or failed without an attempt (e.g. their page needs re-authorisation): no longer
    # anyone's to send, so nothing for reconcile to find in the set
    get_redis().srem(UNATTEMPTED_KEY, *(m.id for m in batch))
    return sent, failed


_SENT = (
    update(Message.__table__)
    .where(Message.__table__.c.id == bindparam("b_id"))
    .values(
        # an echo may already have moved the row on: never step back
        mid=func.coalesce(Message.__table__.c.mid, bindparam("b_mid")),
        status=case(
            (Message.__table__.c.status == MessageStatus.SENDING.value, MessageStatus.SENT.value),
            else_=Message.__table__.c.status,
        ),
        sent_at=func.coalesce(Message.__table__.c.sent_at, bindparam("b_at")),
        error_code=None,
        error_message=None,
        next_attempt_at=None,
    )
)


def _flush_sent(done: list[dict[str, Any]]) -> None:
    """Commit the outcomes of sends that went out: one UPDATE executemany + their audit rows."""
    if not done:
        return
    conn = db.session.connection()
    conn.execute(_SENT, [{k: d[k] for k in ("b_id", "b_mid", "b_at")} for d in done])
    append_rows(
        conn,
        [make_row("reply_sent", "message", d["b_id"], {"conversation_id": d["conversation_id"]}) for d in done],
    )
    db.session.commit()
    done.clear()


def _handle_failure(item: _Send, exc: Exception, later: list[int]) -> str:
    """A Graph call that did not return a mid: retry later, re-authorise, or fail with why."""
    message = db.session.get(Message, item.id)
    if isinstance(exc, RetryableGraphError):
        return _retry_later(message, exc)
    if isinstance(exc, ReauthRequiredError):
        _reauth(message, claimed=later)
        return "reauth"
    if isinstance(exc, PermanentGraphError):
        _fail(message, str(exc.code or exc.http_status or "error"), f"Messenger refused the message: {exc.message}")
    else:  # the client's own input checks (e.g. over-long text): a DomainError
        _fail(message, "invalid", str(exc))
    db.session.commit()
    return "failed"


def _fail(message: Message, code: str, reason: str) -> None:
    """Give up on a reply with a code and a reason the agent reads (audited, not committed)."""
    message.status = MessageStatus.FAILED
    message.error_code = code[:32]
    message.error_message = reason[:1000]
    message.next_attempt_at = None
    record("reply_failed", "message", message.id, {"error_code": message.error_code})


def _retry_later(message: Message, exc: RetryableGraphError) -> str:
    """A transient Graph error: back to queued with the next BACKOFF delay, or failed when spent."""
    attempt = message.attempts or 1
    code = str(exc.code or exc.http_status or "network")
    if attempt > len(BACKOFF):
        _fail(message, code, f"Messenger kept failing after {attempt} attempts: {exc.message}")
        db.session.commit()
        return "failed"
    delay = BACKOFF[attempt - 1]
    message.status = MessageStatus.QUEUED
    message.error_code = code[:32]
    message.error_message = f"temporary Messenger error, retrying in {delay} s: {exc.message}"[:1000]
    message.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    _schedule(message, delay)
    return "retry"


def _schedule(message: Message, delay: int) -> None:
    """Queue this reply's retry drain after `delay` seconds, on behalf of the same actor."""
    actor = current_actor()
    get_queue(OUTBOUND_QUEUE).enqueue_in(
        timedelta(seconds=delay),
        send_message,
        message.id,
        meta={"request_id": current_request_id(), "actor_id": actor.id, "actor_name": actor.name},
    )


def _reauth(message: Message, claimed: Sequence[int] = ()) -> None:
    """190: the page can't send until its token is replaced; fail what's waiting, with why.

    `claimed`: this batch's not yet attempted replies, failed too when they are the page's.
    """
    conversation = db.session.get(Conversation, message.conversation_id)
    mark_needs_reauth(conversation.page, REAUTH_REASON)
    _fail(message, "190", REAUTH_REASON)
    waiting = db.session.scalars(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.page_id == conversation.page_id,
            Message.direction == Direction.OUT,
            or_(
                Message.status == MessageStatus.QUEUED,
                and_(Message.status == MessageStatus.SENDING, Message.id.in_(list(claimed) or [-1])),
            ),
            Message.id != message.id,
        )
    )
    for other in waiting:
        _fail(other, "page_needs_reauth", REAUTH_REASON)
    db.session.commit()


@task
def reconcile_sending() -> dict[str, int]:
    """Every 5 min: settle rows stuck in "sending" and re-kick queued rows nobody is sending."""
    now = utcnow()
    stuck = list(
        db.session.scalars(
            select(Message).where(
                Message.direction == Direction.OUT,
                Message.status == MessageStatus.SENDING,
                Message.send_started_at < now - STUCK_AFTER,
            )
        )
    )
    never_attempted = _take_attempts([m.id for m in stuck])
    _release(sorted(never_attempted))
    unknown = [m for m in stuck if m.id not in never_attempted]
    for message in unknown:
        # an echo carrying our metadata would already have set mid and "sent"
        _fail(
            message,
            "unknown_outcome",
            "the worker stopped while sending, so it is unknown whether Messenger delivered this reply: "
            "check the conversation in Messenger before retrying",
        )
    db.session.commit()
    # replies held behind a stuck one, or whose job was lost (Redis restart, enqueue failure)
    orphans = db.session.scalar(
        select(func.count(Message.id)).where(
            Message.direction == Direction.OUT,
            Message.status == MessageStatus.QUEUED,
            or_(
                Message.conversation_id.in_(sorted({m.conversation_id for m in stuck}) or [-1]),
                and_(
                    Message.created_at < now - STUCK_AFTER,
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at < now - STUCK_AFTER),
                ),
            ),
        )
    )
    if orphans:
        enqueue_send(force=True)
    logger.info(
        "reconcile_sending: %d stuck (%d never attempted, queued again), %d queued replies re-kicked",
        len(stuck),
        len(never_attempted),
        orphans,
    )
    return {"stuck": len(unknown), "requeued": len(never_attempted), "kicked": orphans}
