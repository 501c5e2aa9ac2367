"""RQ jobs of this domain (placeholders until its issue lands)."""

from __future__ import annotations

from app.core.queues import task


@task
def run_retention() -> None:
    """Periodic job (placeholder)."""


@task
def flag_overdue() -> None:
    """Periodic job (placeholder)."""


@task
def purge_expired_exports() -> None:
    """Periodic job (placeholder)."""
