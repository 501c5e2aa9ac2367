"""The sender-action job (queued by sender_actions): one Graph call, failures only logged."""

from __future__ import annotations

import logging

from app import db
from app.conversations.models import Conversation
from app.conversations.outbound import graph_client
from app.conversations.sender_actions import SenderAction, refusal
from app.core.queues import task
from app.messenger.client import GraphError

logger = logging.getLogger(__name__)


@task
def send_sender_action(conversation_id: int, action: str) -> str:
    """Show `action` to the conversation's contact if the rules still allow it (they are
    checked again: the job may run a while after the request). Returns what happened."""
    if action not in set(SenderAction):
        return f"unknown action {action!r}"
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None:
        return "conversation gone"
    reason = refusal(conversation)
    if reason:
        return f"skipped: {reason}"
    page, contact = conversation.page, conversation.contact
    try:
        graph_client().send_sender_action(page.fb_page_id, page.access_token or "", contact.psid or "", action)
    except GraphError as exc:  # best effort: the client already logged it without the token
        logger.info("sender action %s for conversation %s failed: %s", action, conversation_id, type(exc).__name__)
        return f"failed: {type(exc).__name__}"
    return "sent"
