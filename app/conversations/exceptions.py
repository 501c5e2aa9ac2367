"""Refusals of the conversations domain: shown to the agent (flash) or answered 422 (API).

They are `DomainError`s, not `ValueError`s, so a `ValueError` raised by a bug is never
mistaken for a rule saying no: it stays a 500 with a traceback.
"""

from __future__ import annotations

from app.core.exceptions import DomainError


class ReplyRefused(DomainError):
    """The reply cannot be sent; the message is shown to the agent."""


class ConversationError(DomainError):
    """A conversation change was refused; the message says why."""


class CannedReplyError(DomainError):
    """A canned reply cannot be saved as it is (bad shortcut, unknown variable...)."""


class NoteRefused(DomainError):
    """A private note cannot be added; the message says why."""
