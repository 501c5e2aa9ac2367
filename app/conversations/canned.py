"""Canned replies: the rules for saving one and rendering it for a conversation.

One renderer serves the reply box's `/shortcut` picker and the API's `canned_reply_id`: the
variables below are filled in server-side; a value that is missing renders empty (never
`{{...}}`, never "None"); anything else between braces is refused when the reply is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, or_, select

from app import db
from app.conversations.exceptions import CannedReplyError, ReplyRefused
from app.conversations.models import Conversation
from app.conversations.services import MAX_TEXT_LENGTH
from app.conversations.workspace_models import CannedReply
from app.core.context import current_actor

VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_TITLE = 200
PICKER_LIMIT = 10


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


#: name -> how to read it from (conversation, agent); None anywhere along the way renders "".
VARIABLES: dict[str, Callable[[Conversation | None, Any], str]] = {
    "contact.first_name": lambda c, a: _text(c.contact.first_name) if c and c.contact else "",
    "contact.last_name": lambda c, a: _text(c.contact.last_name) if c and c.contact else "",
    "agent.first_name": lambda c, a: _text(a.first_name) if a is not None else "",
    "page.name": lambda c, a: _text(c.page.name) if c and c.page else "",
}


def unknown_variables(text: str) -> list[str]:
    """The `{{...}}` names in `text` that are not variables (stray braces count too)."""
    unknown = [name or "{{}}" for name in VARIABLE.findall(text) if name not in VARIABLES]
    rest = VARIABLE.sub("", text)
    if "{{" in rest or "}}" in rest:
        unknown.append("unbalanced {{ }}")
    return unknown


def check_canned_reply(item: CannedReply) -> None:
    """Shortcut (letters, digits, - and _; unique), title and text; only known variables."""
    shortcut = (item.shortcut or "").strip().lstrip("/").lower()
    if not SHORTCUT.match(shortcut):
        raise CannedReplyError("the shortcut must be 1-64 letters, digits, '-' or '_' (typed after '/')")
    item.shortcut = shortcut
    item.title = (item.title or "").strip()
    if not item.title or len(item.title) > MAX_TITLE:
        raise CannedReplyError(f"the title is required (at most {MAX_TITLE} characters)")
    text = (item.text or "").strip()
    if not text:
        raise CannedReplyError("the text is required")
    if len(text) > MAX_TEXT_LENGTH:
        raise CannedReplyError(f"the text is {len(text)} characters long; Messenger allows at most {MAX_TEXT_LENGTH}")
    unknown = unknown_variables(text)
    if unknown:
        known = ", ".join("{{" + name + "}}" for name in VARIABLES)
        raise CannedReplyError(f"unknown variable(s) {', '.join(unknown)}: use only {known}")
    item.text = text
    taken = select(CannedReply.id).where(func.lower(CannedReply.shortcut) == shortcut)
    if item.id is not None:
        taken = taken.where(CannedReply.id != item.id)
    with db.session.no_autoflush:
        if db.session.scalar(taken) is not None:
            raise CannedReplyError(f"the shortcut /{shortcut} is already taken", status=409)


def _agent(agent_id: int | None) -> User | None:
    user_id = agent_id if agent_id is not None else current_actor().id
    return db.session.get(User, user_id) if user_id is not None else None


def render(canned: CannedReply, conversation: Conversation | None, agent_id: int | None = None) -> str:
    """The reply's text for this conversation, written by this agent (default: the caller)."""
    agent = _agent(agent_id)

    def value(match: re.Match[str]) -> str:
        reader = VARIABLES.get(match.group(1))
        return reader(conversation, agent) if reader else ""

    return VARIABLE.sub(value, canned.text).strip()


def for_conversation(conversation: Conversation) -> Any:
    """Canned replies usable in this conversation: its page's and those for every page."""
    return or_(CannedReply.page_id.is_(None), CannedReply.page_id == conversation.page_id)


def matches(conversation: Conversation, prefix: str, agent_id: int | None = None) -> list[dict[str, Any]]:
    """The picker's offers for `/prefix`: shortcut order, text already rendered."""
    prefix = (prefix or "").strip().lstrip("/").lower()[:64]
    query = select(CannedReply).where(for_conversation(conversation))
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(CannedReply.shortcut.like(escaped + "%", escape="\\"))
    rows = db.session.scalars(query.order_by(CannedReply.shortcut).limit(PICKER_LIMIT))
    return [
        {"id": c.id, "shortcut": c.shortcut, "title": c.title, "text": render(c, conversation, agent_id)} for c in rows
    ]


def reply_text(conversation: Conversation, canned_reply_id: Any, agent_id: int | None = None) -> str:
    """The API's `canned_reply_id`: the rendered text to send (refused when unusable here)."""
    if type(canned_reply_id) is not int:
        raise ReplyRefused("canned_reply_id must be an integer", status=400)
    canned = db.session.get(CannedReply, canned_reply_id) if 0 < canned_reply_id < 2**31 else None
    if canned is None:
        raise ReplyRefused(f"no canned reply {canned_reply_id}", status=404)
    if canned.page_id is not None and canned.page_id != conversation.page_id:
        raise ReplyRefused("that canned reply belongs to another page")
    text = render(canned, conversation, agent_id)
    if not text:
        raise ReplyRefused("the canned reply renders empty for this conversation")
    return text
