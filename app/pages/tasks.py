"""RQ jobs of the pages domain: the daily channel check and the backfill after a gap."""

from __future__ import annotations

import logging
from typing import Any

from app import db
from app.core.queues import task
from app.pages import backfill, health
from app.pages.exceptions import PageError
from app.pages.models import Page

logger = logging.getLogger(__name__)


@task
def check_channels() -> dict[str, Any]:
    """Daily: check every page (no repair: re-subscribing is an Admin's or `--fix`'s decision)."""
    results = health.do_check_all(fix=False)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    return {"pages": len(results), **counts}


@task
def backfill_page(page_id: int, since_iso: str) -> dict[str, Any]:
    """Recover the messages a page missed since `since_iso` (queued after failing → ok, or by an Admin)."""
    page = db.session.get(Page, page_id)
    if page is None:
        logger.warning("backfill: page %s no longer exists", page_id)
        return {"page_id": page_id, "skipped": "page deleted"}
    try:
        report = backfill.do_backfill(page, backfill.parse_since(since_iso))
    except PageError as exc:
        logger.warning("backfill of page %s not run: %s", page_id, exc)
        return {"page_id": page_id, "skipped": str(exc)}
    return report.as_dict()
