"""Queueing of stored events: the drain signal, each event's own job, and the sweeper.

Jobs are named by dotted path (never by importing `tasks`), so this layer does not depend
on the job layer; job ids are built by `event_job_id` alone, so the sweeper, the batch
clean-up and the enqueue always agree on them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select, update

from app import db
from app.core import counters, queues
from app.core.context import Actor, acting_as, current_request_id
from app.core.models import utcnow
from app.webhooks.models import EventStatus, WebhookEvent

logger = logging.getLogger(__name__)

WEBHOOK_ACTOR = Actor(None, "webhook")
JOB_PATH = "app.webhooks.tasks.process_webhook_event"
DRAIN_JOB_PATH = "app.webhooks.tasks.process_pending_events"
DRAIN_FLAG = "omnicrm:webhooks:drain-queued"
DRAIN_FLAG_TTL = 300  # seconds; a lost drain job only delays events until then (or the sweeper)
RETRY_INTERVALS = [10, 60, 300]
# RQ states in which an event's job will still run: the sweeper leaves such events alone
_LIVE_JOB_STATES = frozenset({"queued", "started", "scheduled", "deferred"})


def event_job_id(event_id: int) -> str:
    """The RQ job id of one event's own job: one name, so a job is never queued twice."""
    return f"webhook-event-{event_id}"


def drain_job_id(event_id: int) -> str:
    """The RQ job id of a drain job signalled after `event_id` was committed."""
    return f"webhook-drain-{event_id}"


def enqueue_event(event_id: int, *, retry: bool = True) -> bool:
    """Give one event its own job (sweeper, reprocess): retried with backoff, then `error`.
    False when Redis is unreachable."""
    kwargs: dict[str, Any] = {"job_id": event_job_id(event_id)}
    if retry:
        kwargs["retry"] = Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)
    try:
        with acting_as(WEBHOOK_ACTOR, current_request_id()), queues.get_redis().pipeline() as pipe:
            queues.enqueue(JOB_PATH, event_id, queue="webhooks", pipeline=pipe, **kwargs)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - Redis down must not lose an acknowledged event
        logger.warning("webhook event %s stored but not queued: %s", event_id, type(exc).__name__)
        return False
    return True


def signal_new_event(event_id: int, count: int = 1) -> bool:
    """After `count` events are committed (the last being `event_id`): count them for /metrics
    and make sure a drain job is queued (`enqueue_once`: a burst shares one job instead of
    paying RQ's per-job cost each). Redis down: False; the events stay pending and the
    sweeper queues them.
    """
    counters.incr(counters.WEBHOOK_RECEIVED_KEY, count)
    try:
        with acting_as(WEBHOOK_ACTOR, current_request_id()):
            queues.enqueue_once(
                DRAIN_FLAG, DRAIN_FLAG_TTL, DRAIN_JOB_PATH, queue="webhooks", job_id=drain_job_id(event_id)
            )
    except Exception as exc:  # noqa: BLE001 - Redis down must not lose an acknowledged event
        logger.warning("webhook event %s stored but not queued: %s", event_id, type(exc).__name__)
        return False
    return True


class _Signaller:
    """Per process: the drain signal for committed events, sent from one background thread.

    A request only counts its event and wakes the thread (no Redis call on the request path:
    that call was a fifth of the webhook's CPU); the thread sends one signal for everything
    committed since its last one, so a burst costs two round trips, not two per event. Safe:
    the signal always follows the commits it covers, so the drain job it queues sees them. If the process dies
    before signalling (or Redis is down), the events stay pending and the sweeper queues them.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0
        self._last_id = 0
        self._busy = False
        self._pid = 0

    def submit(self, app: Flask, event_id: int) -> None:
        """Count one committed event; the first use in a (forked) process starts its thread."""
        with self._cond:
            self._count += 1
            self._last_id = event_id
            if self._pid != os.getpid():  # first use in this (possibly forked) process
                self._pid = os.getpid()
                threading.Thread(target=self._run, args=(app,), name="webhook-signal", daemon=True).start()
                atexit.register(self.flush, 2.0)
            self._cond.notify_all()

    def _run(self, app: Flask) -> None:
        """The thread: one signal for everything counted since the last one, forever."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._count > 0)
                count, last_id, self._count = self._count, self._last_id, 0
                self._busy = True
            try:
                with app.app_context():
                    signal_new_event(last_id, count)
            except Exception:  # the sweeper covers what was not signalled
                logger.exception("webhook drain signal failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted event has been signalled (tests, process exit)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._count and not self._busy, timeout)


_signaller = _Signaller()


def signal_soon(event_id: int) -> None:
    """The request path's signal: handed to this process's signal thread."""
    _signaller.submit(current_app._get_current_object(), event_id)  # type: ignore[attr-defined]


def flush_signals(timeout: float = 10.0) -> bool:
    """Block until this process's pending drain signals are sent."""
    return _signaller.flush(timeout)


def requeue_events(event_ids: list[int]) -> int:
    """Admin "reprocess": back to pending and queued again. Returns how many were queued."""
    ids = [int(i) for i in event_ids]
    if not ids:
        return 0
    db.session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id.in_(ids))
        .values(status=EventStatus.PENDING, error=None, processed_at=None)
    )
    db.session.commit()
    existing = db.session.scalars(select(WebhookEvent.id).where(WebhookEvent.id.in_(ids))).all()
    return sum(1 for event_id in existing if enqueue_event(event_id))


def sweep_pending(older_than_seconds: int | None = None, limit: int = 1000) -> int:
    """Re-enqueue events left pending (Redis was down, or a job was lost). Returns how many."""
    age = older_than_seconds
    if age is None:
        age = int(current_app.config.get("WEBHOOK_SWEEP_AFTER_SECONDS", 60))
    cutoff = utcnow() - timedelta(seconds=age)
    ids = db.session.scalars(
        select(WebhookEvent.id)
        .where(WebhookEvent.status == EventStatus.PENDING, WebhookEvent.received_at <= cutoff)
        .order_by(WebhookEvent.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    conn = queues.get_redis()
    queued = 0
    for event_id in ids:
        try:
            job = Job.fetch(event_job_id(event_id), connection=conn)
            if job.get_status(refresh=False) in _LIVE_JOB_STATES:
                continue
        except NoSuchJobError:
            pass
        if enqueue_event(event_id):
            queued += 1
    if queued:
        logger.info("sweeper queued %s pending webhook event(s)", queued)
    return queued
