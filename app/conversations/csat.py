"""CSAT: one "How did we do?" quick-reply question when a conversation is closed, its answer.

Sent only when the page has `csat_enabled`, the contact's 24-hour window is open (always as a
RESPONSE, never with a message tag), and the contact wrote since the last survey; it goes
through the ordinary outbound pipeline (a queued message, the send job). The contact's tap
comes back as a quick reply with payload `CSAT_1`..`CSAT_5`: the webhook path stores it in
`conversation.csat_score` without reopening the conversation or counting it unread.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from app import db
from app.audit.service import record
from app.conversations.models import Conversation, ConversationStatus, Direction, Message, MessageStatus
from app.conversations.outbound import enqueue_send, send_refusal
from app.core.models import utcnow

logger = logging.getLogger(__name__)

QUESTION = "How did we do?"
PAYLOAD_PREFIX = "CSAT_"
SCORES = (1, 2, 3, 4, 5)
QUICK_REPLIES = [{"content_type": "text", "title": f"{n} ★", "payload": f"{PAYLOAD_PREFIX}{n}"} for n in SCORES]
KIND = "csat"
# Meta's standard messaging window (the same rule as services.RESPONSE_WINDOW)
RESPONSE_WINDOW = timedelta(hours=24)
_PAYLOAD = re.compile(r"^CSAT_([1-5])$")


def _last_inbound(conversation: Conversation) -> Any:
    contact = conversation.contact
    values = [v for v in (contact.last_inbound_at if contact else None, conversation.last_inbound_at) if v]
    return max(values) if values else None


def survey_refusal(conversation: Conversation) -> str | None:
    """Why no survey goes out for this conversation now, or None when it should."""
    if conversation.status != ConversationStatus.CLOSED:
        return "the conversation is not closed"
    if conversation.page is None or not conversation.page.csat_enabled:
        return "CSAT is off for this page"
    last = _last_inbound(conversation)
    if last is None or utcnow() - last > RESPONSE_WINDOW:
        return "the 24-hour window is closed (a survey is never sent with a message tag)"
    if conversation.csat_requested_at is not None and conversation.csat_requested_at >= last:
        return "already asked since the contact last wrote"
    return send_refusal(conversation.page, conversation.contact)


def request_survey(conversation: Conversation) -> Message | None:
    """After a close: queue the survey when the rules allow it (commits, then enqueues the send)."""
    reason = survey_refusal(conversation)
    if reason is not None:
        logger.debug("no CSAT survey for conversation %s: %s", conversation.id, reason)
        return None
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.OUT,
        text=QUESTION,
        kind=KIND,
        status=MessageStatus.QUEUED,
        messaging_type="RESPONSE",
        tag=None,
        created_at=now,
        meta={"quick_replies": QUICK_REPLIES},
    )
    db.session.add(message)
    conversation.csat_requested_at = now
    conversation.csat_score = None
    conversation.csat_answered_at = None
    db.session.flush()
    record("csat_requested", "conversation", conversation.id, {"message_id": message.id})
    db.session.commit()
    enqueue_send(message.id)
    return message


def answer_score(conversation: Conversation, payload: Any) -> int | None:
    """The 1-5 score when this quick-reply payload answers the conversation's survey."""
    if conversation.csat_requested_at is None or not isinstance(payload, str):
        return None
    match = _PAYLOAD.match(payload)
    return int(match.group(1)) if match else None


def record_answer(conversation: Conversation, score: int, at: Any) -> None:
    """Store the contact's rating (the last answer counts); audited, in the caller's transaction."""
    old = conversation.csat_score
    conversation.csat_score = score
    conversation.csat_answered_at = at
    record("csat_answered", "conversation", conversation.id, {"csat_score": [old, score]})
