"""Mail jobs (queue "default"): the drain, also run every minute by the schedule."""

from __future__ import annotations

import logging

from app.core.queues import get_redis, task
from app.mail import sending
from app.mail.services import DRAIN_FLAG, signal_drain

logger = logging.getLogger(__name__)


@task
def send_pending() -> dict[str, int]:
    """Send what is due; a full batch hands over to a fresh job."""
    try:
        get_redis().delete(DRAIN_FLAG)  # before claiming: a mail committed from now on signals a new job
    except Exception:  # noqa: BLE001 - Redis down must not stop sending
        logger.warning("mail: Redis unreachable; sending anyway")
    sent, tried = sending.send_pending()
    if tried >= sending.BATCH:
        signal_drain()
    if tried:
        logger.info("mail: %s of %s sent", sent, tried)
    return {"sent": sent, "tried": tried}
