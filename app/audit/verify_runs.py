"""Chain verification on request (the Audit Log's "Verify chain" button), run as an RQ job.

The button queues `app.audit.tasks.verify_chain_on_request` by its dotted path; the job's state
(queued, running, done with ok / broken at row N, failed) and its times live in one Redis key,
so every web process shows the same last run.
"""

from __future__ import annotations

import json
from typing import Any

from app.audit.verify import VerifyResult
from app.core.models import utcnow
from app.core.queues import enqueue, get_redis

STATUS_KEY = "omnicrm:audit:verify:status"
JOB = "app.audit.tasks.verify_chain_on_request"
STALE_AFTER_SECONDS = 3600  # a run left "queued"/"running" this long is shown as lost


def _now() -> str:
    return utcnow().replace(microsecond=0).isoformat()


def status() -> dict[str, Any] | None:
    """The last run's status, or None when verification was never requested from the UI."""
    raw = get_redis().get(STATUS_KEY)
    if not raw:
        return None
    data: dict[str, Any] = json.loads(raw)
    return data


def _save(data: dict[str, Any]) -> None:
    get_redis().set(STATUS_KEY, json.dumps(data))


def is_busy(current: dict[str, Any] | None) -> bool:
    return bool(current and current.get("state") in ("queued", "running"))


def request_verification(requested_by: str) -> dict[str, Any]:
    """Queue a run unless one is already waiting or running; returns the status shown."""
    current = status()
    if is_busy(current) and current is not None:
        return current
    data: dict[str, Any] = {"state": "queued", "requested_by": requested_by, "queued_at": _now()}
    _save(data)
    job = enqueue(JOB, queue="default", job_timeout=STALE_AFTER_SECONDS)
    data["job_id"] = job.id
    _save(data)
    return data


def mark_running() -> None:
    data = status() or {}
    data.update(state="running", started_at=_now())
    _save(data)


def mark_done(result: VerifyResult) -> dict[str, Any]:
    data = status() or {}
    data.update(
        state="done",
        ok=result.ok,
        rows=result.rows,
        broken_id=result.broken_id,
        reason=result.reason,
        finished_at=_now(),
    )
    _save(data)
    return data


def mark_failed(error: str) -> None:
    data = status() or {}
    data.update(state="failed", error=error[:500], finished_at=_now())
    _save(data)
