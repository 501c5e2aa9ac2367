"""Refusals of the pages domain, as `DomainError`s (flashed in the grid, 422 in the API, a
usage error on the command line); a bug's stray `ValueError` stays a 500."""

from __future__ import annotations

from app.core.exceptions import DomainError


class PageError(DomainError):
    """A page operation was refused; the message says why."""
