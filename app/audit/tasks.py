"""RQ jobs of the audit domain."""

from __future__ import annotations

import logging
from typing import Any

from app import db
from app.audit import service, verify_runs
from app.audit.verify import verify_chain
from app.core.queues import task

logger = logging.getLogger(__name__)


@task
def verify_chain_job() -> dict[str, Any]:
    """Hourly: verify the chain; a break raises an admin-visible alert and is itself audited.

    Also flushes finished minutes of webhook signature-failure counts.
    """
    try:
        service.flush_signature_failures()
    except Exception:
        logger.exception("could not flush signature-failure counts")
    result = verify_chain()
    if result.ok:
        service.clear_alert()
        logger.info("audit chain verified: %s rows", result.rows)
    else:
        logger.error("audit chain broken at row %s: %s", result.broken_id, result.reason)
        service.set_alert(result)
        service.record("audit_chain_broken", "audit_log", result.broken_id, {"reason": result.reason})
        db.session.commit()
    return {"ok": result.ok, "rows": result.rows, "broken_id": result.broken_id}


@task
def verify_chain_on_request() -> dict[str, Any]:
    """The "Verify chain" button: the same check as the hourly job, its state kept in Redis."""
    verify_runs.mark_running()
    try:
        result = verify_chain()
    except Exception as exc:
        verify_runs.mark_failed(f"{type(exc).__name__}: {exc}")
        raise
    if result.ok:
        service.clear_alert()
    else:
        service.set_alert(result)
        service.record("audit_chain_broken", "audit_log", result.broken_id, {"reason": result.reason})
        db.session.commit()
    return verify_runs.mark_done(result)
