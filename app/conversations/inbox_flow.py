"""Agent workspace actions that combine two rules: reply then take, close then go on.

(Issue 21: replying to an unassigned conversation offers "assign to me", or does it when the
deployment sets `ASSIGN_ON_REPLY`; closing goes to the next conversation of the queue.)
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.conversations import attachments, services
from app.conversations.models import Conversation, Message

#: a file from the reply box: (file name, content type, bytes)
Upload = tuple[str | None, str | None, bytes]


def reply(
    conversation: Conversation,
    text: Any,
    *,
    human_agent: bool,
    author_id: int,
    assign_to_me: bool,
    may_take: bool,
    upload: Upload | None = None,
) -> tuple[Message, bool]:
    """Queue the reply; then, when the conversation is unassigned and the author asked for it
    (or ASSIGN_ON_REPLY is set) and may take conversations, assign it to them.
    Returns the (last) message and whether it was assigned. With a file, the text is optional."""
    if upload is not None:
        filename, content_type, data = upload
        message = attachments.queue_file_reply(
            conversation,
            filename=filename,
            content_type=content_type,
            data=data,
            text=text,
            human_agent=human_agent,
            author_id=author_id,
        )[-1]
    else:
        message = services.queue_reply(conversation, text, human_agent=human_agent, author_id=author_id)
    wanted = assign_to_me or bool(current_app.config.get("ASSIGN_ON_REPLY"))
    if wanted and may_take and conversation.assignee_id is None:
        services.assign(conversation, author_id)
        return message, True
    return message, False
