"""RQ jobs of this domain (placeholders until its issue lands)."""

from __future__ import annotations

from app.core.queues import task


@task
def verify_chain_job() -> None:
    """Periodic job (placeholder)."""
