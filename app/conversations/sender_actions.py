"""Sender actions: `mark_seen` when an agent opens a conversation with unread messages,
`typing_on` while an agent types (at most once per TYPING_EVERY seconds per conversation).

Best effort and off the request path: the request only checks the rules and enqueues a job
(sender_tasks); anything failing (Redis down, Graph error) is logged and never blocks a reply.
Only inside the 24-hour window, when the page may send to the contact. Instagram supports both
actions through the same `/{page-id}/messages` call (Meta's Instagram Messaging "Sender
Actions" guide), so both channels get them.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from app.conversations import services
from app.conversations.models import Conversation
from app.conversations.outbound import OUTBOUND_QUEUE, send_refusal
from app.core.queues import enqueue, get_redis

logger = logging.getLogger(__name__)

SENDER_ACTION_JOB = "app.conversations.sender_tasks.send_sender_action"
TYPING_EVERY = 10  # seconds
TYPING_KEY = "omnicrm:typing:{}"


class SenderAction(StrEnum):
    MARK_SEEN = "mark_seen"
    TYPING_ON = "typing_on"


def refusal(conversation: Conversation) -> str | None:
    """Why no sender action may go to this conversation's contact now, or None."""
    reason = send_refusal(conversation.page, conversation.contact)
    if reason:
        return reason
    if services.reply_window(conversation).response_left is None:
        return "outside the 24-hour window"
    return None


def request_action(conversation: Conversation, action: SenderAction) -> str | None:
    """Queue the action's job; returns why it was not queued (None: queued). Never raises."""
    reason = refusal(conversation)
    if reason:
        return reason
    try:
        if action == SenderAction.TYPING_ON and not get_redis().set(
            TYPING_KEY.format(conversation.id), 1, nx=True, ex=TYPING_EVERY
        ):
            return f"typing was shown less than {TYPING_EVERY} s ago"
        enqueue(SENDER_ACTION_JOB, conversation.id, str(action), queue=OUTBOUND_QUEUE)
    except Exception:
        logger.warning("sender action %s for conversation %s not queued", action, conversation.id, exc_info=True)
        return "could not be queued"
    return None
