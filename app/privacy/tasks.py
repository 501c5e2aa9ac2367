"""RQ jobs of the privacy domain: request processing (queue `privacy`) and the periodic sweeps.

Jobs call the services; services queue jobs by dotted path and never import this module.
"""

from __future__ import annotations

import logging
from typing import Any

from app import db
from app.core.queues import task
from app.privacy import digest, export, processing, retention
from app.privacy.models import PrivacyRequest
from app.privacy.notices import Notice, notify_requester

logger = logging.getLogger(__name__)


@task
def process_request(request_id: int) -> str | None:
    """Run one approved privacy request; unexpected failures re-raise so RQ retries."""
    req = processing.process(request_id)
    return req.status if req is not None else None


@task
def run_retention() -> dict[str, Any]:
    """Daily: per-page retention, erased contacts' leftovers, deleted staff accounts."""
    report = retention.run_retention()
    for line in report.lines():
        logger.info("retention: %s", line)
    return {"pages": report.per_page, "erased_leftovers": report.erased_leftovers, "accounts": report.accounts_removed}


@task
def flag_overdue() -> int:
    """Hourly: audit requests that passed their due date."""
    return retention.flag_overdue()


@task
def purge_expired_exports() -> int:
    """Delete export files whose 7-day link expired."""
    return export.purge_expired_exports()


@task
def privacy_digest() -> str:
    """Daily: mail and notify the Privacy Officers of requests due within 7 days and overdue."""
    result = digest.run_digest()
    logger.info("privacy digest: %s", result.line())
    return result.line()


@task
def send_received_notice(request_id: int) -> list[str]:
    """The "we received your request" notice for a request opened from inside Messenger."""
    req = db.session.get(PrivacyRequest, request_id)
    if req is None:
        return []
    return notify_requester(req, Notice.RECEIVED)
