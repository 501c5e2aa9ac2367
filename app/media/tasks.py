"""RQ jobs of the media domain (queue "default"): fetch one inbound file; sweep lost fetches
and orphaned files."""

from __future__ import annotations

from rq import get_current_job

from app.core.queues import task
from app.media import inbound, services


def _last_attempt() -> bool:
    """True on the final try (no RQ retries left, or run without retries)."""
    job = get_current_job()
    return job is None or not job.retries_left


@task
def fetch_media(media_id: int) -> str:
    """Fetch one attachment from Meta's CDN and store it encrypted (once; retried with backoff)."""
    return inbound.fetch_one(media_id, last_try=_last_attempt())


@task
def sweep_pending_media() -> int:
    """Cron: queue pending inbound files whose job was lost (Redis down, worker killed)."""
    return inbound.sweep_pending()


@task
def sweep_orphan_media() -> int:
    """Cron: remove stored files that no row names (a crash between writing and committing)."""
    return services.sweep_orphans()
