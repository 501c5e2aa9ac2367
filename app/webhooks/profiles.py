"""Profile fetches for contacts that processing created (name and picture from the Graph API)."""

from __future__ import annotations

import logging

from app.core import queues
from app.core.context import acting_as
from app.webhooks.signals import WEBHOOK_ACTOR

logger = logging.getLogger(__name__)

PROFILE_JOB_PATH = "app.contacts.tasks.fetch_profile"


def queue_profile_fetch(contact_id: int) -> None:
    """Ask for the new contact's name and picture; soft: no Redis, no profile (the contact stays)."""
    try:
        with acting_as(WEBHOOK_ACTOR):
            queues.enqueue(PROFILE_JOB_PATH, contact_id, queue="default")
    except Exception as exc:  # noqa: BLE001
        logger.warning("profile fetch for contact %s not queued: %s", contact_id, type(exc).__name__)
