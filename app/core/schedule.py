"""Periodic jobs for the RQ cron scheduler (run by `python worker.py`)."""

from __future__ import annotations

import logging

from rq.cron import CronScheduler

logger = logging.getLogger(__name__)


def register_jobs(scheduler: CronScheduler) -> None:
    """Every periodic job, in one place, so operators see the whole schedule."""
    from app.audit import tasks as audit_tasks
    from app.conversations import tasks as conversation_tasks
    from app.privacy import tasks as privacy_tasks
    from app.webhooks import tasks as webhook_tasks

    scheduler.register(webhook_tasks.sweep_pending_events, queue_name="webhooks", interval=60)
    scheduler.register(conversation_tasks.reconcile_sending, queue_name="outbound", interval=300)
    scheduler.register(privacy_tasks.run_retention, queue_name="privacy", cron="30 3 * * *")
    scheduler.register(privacy_tasks.flag_overdue, queue_name="privacy", cron="0 * * * *")
    scheduler.register(privacy_tasks.purge_expired_exports, queue_name="privacy", cron="15 * * * *")
    scheduler.register(audit_tasks.verify_chain_job, queue_name="default", cron="0 * * * *")
