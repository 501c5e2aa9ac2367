"""Outbound jobs: send queued replies in order, retry transient failures, reconcile crashes.

Ordering: each job drains its conversation oldest-first and stops at a message that is in
flight elsewhere or waiting for a retry, so a later reply never overtakes an earlier one; RQ's
per-conversation RateLimit (concurrency 1) keeps two workers from draining one conversation at
once, and the conditional "queued → sending" claim guards against a double send regardless.

A message is committed as "sending" before the Graph call: if the worker dies after Meta
accepted it but before "sent" is committed, the row stays "sending" and `reconcile_sending`
hands it to the agent to check instead of sending it a second time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, case, func, or_, select, update

from app import db
from app.audit.service import record
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.core.queues import task
from app.messenger.client import (
    GraphClient,
    PermanentGraphError,
    ReauthRequiredError,
    RetryableGraphError,
    client_from_config,
)

logger = logging.getLogger(__name__)

#: Seconds to wait before each retry of a transient failure; then the message fails.
BACKOFF = (10, 30, 120, 600)
STUCK_AFTER = timedelta(minutes=2)
REAUTH_REASON = "the page's access token expired or was revoked (Graph error 190): replace the token, then retry"

_clients: dict[tuple, GraphClient] = {}


def graph_client() -> GraphClient:
    """One pooled client per worker process and configuration (keep-alive to Meta)."""
    cfg = current_app.config
    key = (cfg.get("GRAPH_API_BASE"), cfg.get("GRAPH_API_VERSION"), cfg.get("FB_APP_SECRET"))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = client_from_config(cfg)
    return client


def _next_pending(conversation_id: int) -> Message | None:
    return db.session.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == "out",
            Message.status.in_(("queued", "sending")),
        )
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )


def _claim(message: Message) -> bool:
    """queued → sending, atomically; False when someone else got there first."""
    now = utcnow()
    result = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == "queued")
        .values(status="sending", send_started_at=now, attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount != 1:
        return False
    db.session.refresh(message)
    return True


@task
def send_message(message_id: int) -> str:
    """Send this message's conversation's queued replies, oldest first. Returns what happened."""
    message = db.session.get(Message, message_id)
    if message is None or message.direction != "out":
        return "missing"
    conversation_id = message.conversation_id
    outcome = "nothing to send"
    for _ in range(1000):  # bounded drain
        nxt = _next_pending(conversation_id)
        if nxt is None:
            break
        if nxt.status == "sending":
            outcome = "held behind a message in flight"
            break
        # this job may be the message's own scheduled retry: then it is due (clocks may differ)
        if nxt.id != message_id and nxt.next_attempt_at is not None and nxt.next_attempt_at > utcnow():
            outcome = "held behind a message waiting to retry"
            break
        if not _claim(nxt):
            outcome = "claimed elsewhere"
            break
        outcome = _send_one(nxt)
        if outcome in ("retry", "reauth"):
            break
    db.session.commit()
    return outcome


def _fail(message: Message, code: str, reason: str) -> None:
    message.status = "failed"
    message.error_code = code[:32]
    message.error_message = reason[:1000]
    message.next_attempt_at = None
    record("reply_failed", "message", message.id, {"error_code": message.error_code})


def _send_one(message: Message) -> str:
    """One Send API call for a claimed ("sending") message, with its outcome committed."""
    from app.conversations import services

    conversation = db.session.get(Conversation, message.conversation_id)
    try:
        services.check_can_send(conversation)
    except services.ReplyRefused as exc:
        _fail(message, "refused", str(exc))
        db.session.commit()
        return "refused"
    page, contact = conversation.page, conversation.contact
    try:
        mid = graph_client().send_message(
            page.fb_page_id,
            page.access_token,
            contact.psid,
            message.text,
            messaging_type=message.messaging_type or "RESPONSE",
            tag=message.tag,
            metadata=f"omnicrm:{message.id}",
        )
    except RetryableGraphError as exc:
        return _retry_later(message, exc)
    except ReauthRequiredError as exc:
        _reauth(message, exc)
        return "reauth"
    except PermanentGraphError as exc:
        _fail(message, str(exc.code or exc.http_status or "error"), f"Messenger refused the message: {exc.message}")
        db.session.commit()
        return "failed"
    except ValueError as exc:  # the client's own input checks (e.g. over-long text)
        _fail(message, "invalid", str(exc))
        db.session.commit()
        return "failed"
    _record_sent(message, mid)
    return "sent"


def _record_sent(message: Message, mid: str) -> None:
    """Store Meta's mid in one statement; an echo may already have moved the row on (never step back)."""
    db.session.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(
            mid=func.coalesce(Message.mid, mid),
            status=case((Message.status == "sending", "sent"), else_=Message.status),
            sent_at=func.coalesce(Message.sent_at, utcnow()),
            error_code=None,
            error_message=None,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    record("reply_sent", "message", message.id, {"conversation_id": message.conversation_id})
    db.session.commit()


def _retry_later(message: Message, exc: RetryableGraphError) -> str:
    attempt = message.attempts or 1
    code = str(exc.code or exc.http_status or "network")
    if attempt > len(BACKOFF):
        _fail(message, code, f"Messenger kept failing after {attempt} attempts: {exc.message}")
        db.session.commit()
        return "failed"
    delay = BACKOFF[attempt - 1]
    message.status = "queued"
    message.error_code = code[:32]
    message.error_message = f"temporary Messenger error, retrying in {delay} s: {exc.message}"[:1000]
    message.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    _schedule(message, delay)
    return "retry"


def _schedule(message: Message, delay: int) -> None:
    from rq import RateLimit

    from app.core.context import current_actor, current_request_id
    from app.core.queues import get_queue

    actor = current_actor()
    get_queue("outbound").enqueue_in(
        timedelta(seconds=delay),
        send_message,
        message.id,
        rate_limit=RateLimit(key=f"conv:{message.conversation_id}", concurrency=1),
        meta={"request_id": current_request_id(), "actor_id": actor.id, "actor_name": actor.name},
    )


def _reauth(message: Message, exc: ReauthRequiredError) -> None:
    """190: the page can't send until its token is replaced; fail what's waiting, with why."""
    from app.pages.services import mark_needs_reauth

    conversation = db.session.get(Conversation, message.conversation_id)
    mark_needs_reauth(conversation.page, REAUTH_REASON)
    _fail(message, "190", REAUTH_REASON)
    waiting = db.session.scalars(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.page_id == conversation.page_id,
            Message.direction == "out",
            Message.status == "queued",
            Message.id != message.id,
        )
    )
    for other in waiting:
        _fail(other, "page_needs_reauth", REAUTH_REASON)
    db.session.commit()


@task
def reconcile_sending() -> dict[str, int]:
    """Every 5 min: settle rows stuck in "sending" and re-kick queued rows nobody is sending."""
    from app.conversations import services

    now = utcnow()
    stuck = list(
        db.session.scalars(
            select(Message).where(
                Message.direction == "out",
                Message.status == "sending",
                Message.send_started_at < now - STUCK_AFTER,
            )
        )
    )
    for message in stuck:
        # an echo carrying our metadata would already have set mid and "sent"
        _fail(
            message,
            "unknown_outcome",
            "the worker stopped while sending, so it is unknown whether Messenger delivered this reply: "
            "check the conversation in Messenger before retrying",
        )
    db.session.commit()
    # queued rows held behind a stuck one, or whose job was lost (Redis restart, enqueue failure)
    orphans = db.session.scalars(
        select(Message).where(
            Message.direction == "out",
            Message.status == "queued",
            or_(
                Message.conversation_id.in_(sorted({m.conversation_id for m in stuck}) or [-1]),
                and_(
                    Message.created_at < now - STUCK_AFTER,
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at < now - STUCK_AFTER),
                ),
            ),
        )
    )
    kicked: set[int] = set()
    for message in orphans:
        if message.conversation_id not in kicked:
            kicked.add(message.conversation_id)
            services.enqueue_send(message)
    logger.info("reconcile_sending: %d stuck, %d conversations re-enqueued", len(stuck), len(kicked))
    return {"stuck": len(stuck), "kicked": len(kicked)}
