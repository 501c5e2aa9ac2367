"""Redis counters that any process may bump and `/metrics` reads (shared by every replica)."""

from __future__ import annotations

import logging

from app.core.queues import get_redis

logger = logging.getLogger(__name__)

WEBHOOK_RECEIVED_KEY = "omnicrm:metrics:webhook_received"
WEBHOOK_REJECTED_KEY = "omnicrm:metrics:webhook_rejected"


def incr(key: str, amount: int = 1) -> None:
    """Best-effort counter bump (a Redis outage must not fail a request)."""
    try:
        get_redis().incrby(key, amount)
    except Exception as exc:  # noqa: BLE001
        logger.warning("metrics counter %s not updated: %s", key, type(exc).__name__)
