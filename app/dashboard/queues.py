"""Queue monitoring for Admins: depths, failed jobs with an exception summary, requeue.

rq-dashboard 0.9.0 runs on rq 3.0 / redis 8, but it mutates state on GET
(`/requeue/<queue>`), posts without CSRF tokens and brings its own page layout, so this small
equivalent lives inside the admin instead, behind the `QueueDashboard` permission and CSRF.
Job arguments are never shown (they hold ids only, but nothing here needs them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.audit.service import make_row, record_standalone
from app.core.queues import QUEUE_NAMES, enqueue, get_queue, get_redis
from app.core.schedule import UnknownJobError, get_job
from app.dashboard.exceptions import QueueError

logger = logging.getLogger(__name__)

FAILED_LIST_LIMIT = 50


@dataclass
class QueueStats:
    name: str
    queued: int
    started: int
    scheduled: int
    deferred: int
    failed: int
    finished: int


@dataclass
class FailedJob:
    id: str
    queue: str
    func: str
    enqueued_at: datetime | None
    ended_at: datetime | None
    error: str


def _check_queue(name: str) -> None:
    """Only our own queues: the name comes from a form."""
    if name not in QUEUE_NAMES:
        raise QueueError(f"unknown queue {name!r}")


def queue_stats() -> list[QueueStats]:
    stats = []
    for name in QUEUE_NAMES:
        q = get_queue(name)
        stats.append(
            QueueStats(
                name=name,
                queued=q.count,
                started=q.started_job_registry.count,
                scheduled=q.scheduled_job_registry.count,
                deferred=q.deferred_job_registry.count,
                failed=q.failed_job_registry.count,
                finished=q.finished_job_registry.count,
            )
        )
    return stats


def depths() -> dict[str, dict[str, int]]:
    """Queue -> {state: count} for /metrics."""
    return {
        s.name: {"queued": s.queued, "started": s.started, "scheduled": s.scheduled, "failed": s.failed}
        for s in queue_stats()
    }


def exception_summary(job: Job) -> str:
    """The last line of the traceback (`ValueError: ...`), trimmed."""
    text = ""
    try:
        result = job.latest_result()
        text = (result.exc_string if result is not None else "") or ""
    except Exception:  # noqa: BLE001 - an unreadable result must not break the page
        logger.debug("no result for job %s", job.id)
    if not text:
        text = job.exc_info or ""
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return (lines[-1].strip() if lines else "(no exception recorded)")[:300]


def failed_jobs(limit: int = FAILED_LIST_LIMIT) -> list[FailedJob]:
    jobs: list[FailedJob] = []
    redis = get_redis()
    for name in QUEUE_NAMES:
        registry = get_queue(name).failed_job_registry
        ids = registry.get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=redis):
            if job is None:
                continue
            jobs.append(
                FailedJob(
                    id=job.id,
                    queue=name,
                    func=job.func_name or "?",
                    enqueued_at=job.enqueued_at,
                    ended_at=job.ended_at,
                    error=exception_summary(job),
                )
            )
    jobs.sort(key=lambda j: j.ended_at or datetime.min, reverse=True)
    return jobs[:limit]


def requeue(queue: str, job_id: str) -> None:
    """Put one failed job back on its queue, or say why not (unknown queue or job)."""
    _check_queue(queue)
    registry = get_queue(queue).failed_job_registry
    if job_id not in registry:
        raise QueueError("that job is not in the failed registry (already requeued?)")
    try:
        registry.requeue(job_id)
    except NoSuchJobError:
        raise QueueError("that job no longer exists")
    logger.info("requeued failed job %s on %s", job_id, queue)


def requeue_all() -> int:
    """Requeue every failed job on every queue; returns how many."""
    count = 0
    for name in QUEUE_NAMES:
        registry = get_queue(name).failed_job_registry
        for job_id in registry.get_job_ids():
            try:
                registry.requeue(job_id)
                count += 1
            except NoSuchJobError:
                registry.remove(job_id)
    logger.info("requeued %d failed job(s)", count)
    return count


def audit_requeue(queue: str | None, job_id: str | None, count: int) -> None:
    """Requeues change what runs: leave an audit row (committed on its own connection)."""
    record_standalone([make_row("job_requeue", "rq_job", job_id, {"queue": queue or "all", "count": count})])


def run_scheduled_now(name: str) -> None:
    """Queue a scheduled job outside its slot; recorded like a scheduled run, and audited."""
    try:
        job = get_job(name, current_app.config.get("CRON_OVERRIDES", ""))
    except UnknownJobError as exc:
        raise QueueError(str(exc)) from None
    slot = int(time.time())
    job_id = f"cron-{job.name}-manual-{slot}"
    enqueue("app.core.scheduler.run_scheduled_job", job.name, slot, queue=job.queue, job_id=job_id)
    record_standalone([make_row("scheduled_job_run", "rq_job", job_id, {"job": job.name, "queue": job.queue})])
