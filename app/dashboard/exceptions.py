"""Refusals of the queue monitor, as `DomainError`s: flashed to the Admin, never a 500."""

from __future__ import annotations

from app.core.exceptions import DomainError


class QueueError(DomainError):
    """Bad queue name or job id: shown to the admin, never a 500."""
