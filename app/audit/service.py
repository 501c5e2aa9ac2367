"""Audit writes (placeholder until the audit issue lands: the API is fixed)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def record(
    action: str,
    entity_type: str | None = None,
    entity_id: Any = None,
    changes: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Append one business event to the audit log in the current transaction."""


def record_auth_event(action: str, username: str, user_id: int | None, **extra: Any) -> None:
    """Append an authentication event (committed on its own)."""
