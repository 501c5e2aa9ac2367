"""RQ jobs of the webhook domain: process one stored event; sweep events left pending.

Only the job layer lives here: the rules are in `batch` and `signals`, which never import
this module (they queue jobs by dotted path), so the dependency runs one way.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import get_current_job

from app.core.queues import task
from app.webhooks import batch, signals

logger = logging.getLogger(__name__)


def _last_attempt() -> bool:
    """True on the final try (no RQ retries left, or run without retries)."""
    job = get_current_job()
    return job is None or not job.retries_left


@task
def process_webhook_event(event_id: int) -> dict[str, Any]:
    """Apply one webhook event; failures are recorded and retried with backoff by RQ."""
    try:
        outcome = batch.process_event(event_id)
    except Exception as exc:
        final = _last_attempt()
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        logger.warning("webhook event %s failed (final=%s): %s", event_id, final, type(exc).__name__)
        batch.record_failure(event_id, reason, final)
        raise
    # then help with the backlog: one job applies a batch of other pending events
    try:
        drained = batch.drain_pending()
    except Exception as exc:  # noqa: BLE001 - the backlog keeps its own jobs
        logger.warning("webhook drain failed: %s", type(exc).__name__)
        drained = 0
    return {"handled": outcome.handled, "skipped": outcome.skipped, "discarded": outcome.discarded, "drained": drained}


@task
def process_pending_events() -> int:
    """Drain job queued by the webhook: applies every pending event, in batches."""
    return batch.drain()


@task
def sweep_pending_events() -> int:
    """Cron (every 60 s): queue events that were stored while Redis was down, or lost a job."""
    return signals.sweep_pending()
