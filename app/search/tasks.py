"""RQ jobs of the search domain: a backfill or rebuild run in the worker (`queue="default"`)."""

from __future__ import annotations

from typing import Any

from app.core.queues import task
from app.search import rebuild


@task
def run_index(mode: str, batch_size: int = rebuild.DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """Backfill or rebuild the whole index in the worker (resumes an interrupted run)."""
    report = rebuild.do_run(mode, batch_size)
    return {"mode": report.mode, "scanned": report.scanned, "indexed": report.indexed, "tokens": report.tokens}
