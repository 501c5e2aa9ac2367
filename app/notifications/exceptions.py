"""Refusals of the notifications domain."""

from __future__ import annotations

from app.core.exceptions import DomainError


class NotificationError(DomainError):
    """A notification change was refused; the message says why."""
