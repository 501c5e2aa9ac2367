"""RQ jobs of this domain (placeholders until its issue lands)."""

from __future__ import annotations

from app.core.queues import task


@task
def sweep_pending_events() -> None:
    """Periodic job (placeholder)."""
