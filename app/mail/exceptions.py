"""Refusals of the mail domain (a bad address, a header that would inject lines)."""

from __future__ import annotations

from app.core.exceptions import DomainError


class MailError(DomainError):
    """A mail could not be queued; the message says why (400 in the API, a flash in a view)."""

    status = 400
