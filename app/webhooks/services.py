"""Webhook storage and processing (placeholder; the webhook issue fills it in)."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def requeue_events(event_ids: list[int]) -> int:
    return 0
