"""Conversation and reply rules (placeholder signatures; the replies issue fills them in)."""

from __future__ import annotations

import logging

from app.conversations.models import Conversation, Message

logger = logging.getLogger(__name__)


class ReplyRefused(ValueError):
    """The reply cannot be sent; the message is shown to the agent."""


def validate_conversation_update(conversation: Conversation) -> None:
    if conversation.status not in ("open", "pending", "closed"):
        raise ValueError("status must be open, pending or closed")


def queue_reply(conversation: Conversation, text: str, human_agent: bool = False) -> Message:
    raise ReplyRefused("replies are not available yet")
