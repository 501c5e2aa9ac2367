"""Redis counters that any process may bump and `/metrics` reads (shared by every replica)."""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import current_app

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


def over_hourly_limit(key: str, limit: int) -> bool:
    """Count one attempt under `key` (a window of one hour from the first); True beyond `limit`.

    Keys should not hold personal data in clear: pass an address or IP through `keyed_digest`.
    """
    conn = get_redis()
    count = int(conn.incr(key))
    if count == 1:
        conn.expire(key, 3600)
    return count > limit


def keyed_digest(value: str) -> str:
    """HMAC-SHA256 of `value` under SECRET_KEY: a stable key for rate limits that reveals nothing."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), value.encode(), hashlib.sha256).hexdigest()
