"""Search refusals (a DomainError: the view flashes it, the API answers 400 with the reason)."""

from __future__ import annotations

from app.core.exceptions import DomainError


class SearchError(DomainError):
    """A search the service refuses: no words, too long, bad filter."""

    status = 400
