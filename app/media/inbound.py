"""Inbound attachments: each file fetched once in a job, stored encrypted, never fetched twice.

A new inbound message's pending rows are queued after its transaction commits (`listeners`);
a sweeper queues rows whose job was lost (Redis down, worker killed). A job fetches outside
any transaction (a slow CDN never holds a row lock), then records the outcome with a
conditional UPDATE: when the row is no longer pending (unsent, erased, already stored by a
twin job), the new blob is deleted again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select, update

from app import db
from app.conversations.models import Message
from app.core import queues
from app.core.models import utcnow
from app.media import storage
from app.media.exceptions import FetchFailed, FetchRefused
from app.media.fetch import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, Fetched, fetch
from app.media.models import MediaDirection, MediaFile, MediaStatus

logger = logging.getLogger(__name__)

JOB_PATH = "app.media.tasks.fetch_media"
QUEUE = "default"
RETRY_INTERVALS = [10, 60, 300]
MAX_ATTEMPTS = len(RETRY_INTERVALS) + 1
SWEEP_AFTER_SECONDS = 120
#: Meta's CDN links expire within days: older pending rows are given up, not fetched
GIVE_UP_AFTER = timedelta(days=2)
_LIVE_JOB_STATES = frozenset({"queued", "started", "scheduled", "deferred"})
_table = MediaFile.__table__


def job_id(media_id: int) -> str:
    """One name per file, so the enqueue, the sweeper and the retries agree on it."""
    return f"media-fetch-{media_id}"


def enqueue_fetches(media_ids: list[int]) -> int:
    """Queue one job per file (retried with backoff); Redis down leaves them to the sweeper."""
    if not media_ids:
        return 0
    try:
        with queues.get_redis().pipeline() as pipe:
            for media_id in media_ids:
                queues.enqueue(
                    JOB_PATH,
                    media_id,
                    queue=QUEUE,
                    job_id=job_id(media_id),
                    retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
                    pipeline=pipe,
                )
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - rows stay pending: the sweeper queues them
        logger.warning("media: %s fetch(es) not queued (%s); the sweeper will", len(media_ids), type(exc).__name__)
        return 0
    return len(media_ids)


def _source(row: MediaFile) -> str | None:
    """The attachment's CDN URL (from the message's encrypted attachments), None when gone."""
    message = db.session.get(Message, row.message_id)
    atts = message.attachments if message is not None else None
    if not isinstance(atts, list) or row.position >= len(atts) or not isinstance(atts[row.position], dict):
        return None
    url = atts[row.position].get("url")
    return str(url) if url else None


def _finish(media_id: int, values: dict[str, Any]) -> bool:
    """Record the outcome if the row is still pending; False when it is not (any more)."""
    result = db.session.execute(
        update(_table)
        .where(_table.c.id == media_id, _table.c.status == MediaStatus.PENDING.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(result.rowcount)


def store_fetched(media_id: int, got: Fetched, attempts: int) -> str:
    """Keep fetched bytes for a pending row (the job; the demo with its own pictures)."""
    key = storage.put(got.data)
    values = {
        "attempts": attempts,
        "status": MediaStatus.STORED.value,
        "storage_key": key,
        "content_type": got.content_type[:127],
        "size": len(got.data),
        "sha256": got.sha256,
        "stored_at": utcnow(),
        "error": None,
    }
    try:
        kept = _finish(media_id, values)
    except Exception:
        db.session.rollback()
        storage.delete(key)
        raise
    if not kept:
        storage.delete(key)  # unsent or erased while we fetched: the file must not stay
        return "dropped"
    return MediaStatus.STORED.value


def fetch_one(media_id: int, *, last_try: bool = True) -> str:
    """Fetch and store one pending file; returns its new status. Raises FetchFailed when a
    retry can help and `last_try` is False (the job's retry then runs it again)."""
    row = db.session.get(MediaFile, media_id)
    if row is None or row.status != MediaStatus.PENDING or row.direction != MediaDirection.IN:
        db.session.rollback()
        return "done" if row is not None else "gone"
    url, kind = _source(row), row.media_type
    attempts = (row.attempts or 0) + 1
    cfg = current_app.config
    db.session.rollback()  # no transaction (nor lock) held while the CDN answers
    if url is None:
        _finish(media_id, {"status": MediaStatus.DELETED.value, "attempts": attempts, "error": "attachment removed"})
        return MediaStatus.DELETED.value
    try:
        got = fetch(
            url,
            kind,
            str(cfg.get("MEDIA_FETCH_HOSTS") or ""),
            max_bytes=int(cfg.get("MEDIA_MAX_BYTES") or DEFAULT_MAX_BYTES),
            timeout=float(cfg.get("MEDIA_FETCH_TIMEOUT") or DEFAULT_TIMEOUT),
        )
    except FetchRefused as exc:
        logger.info("media %s refused: %s", media_id, exc)
        _finish(media_id, {"status": MediaStatus.REJECTED.value, "attempts": attempts, "error": str(exc)[:500]})
        return MediaStatus.REJECTED.value
    except FetchFailed as exc:
        final = last_try or not exc.retry or attempts >= MAX_ATTEMPTS
        logger.info("media %s fetch failed (final=%s): %s", media_id, final, exc)
        values: dict[str, Any] = {"attempts": attempts, "error": str(exc)[:500]}
        if final:
            values["status"] = MediaStatus.FAILED.value
        _finish(media_id, values)
        if not final:
            raise
        return MediaStatus.FAILED.value
    return store_fetched(media_id, got, attempts)


def _job_alive(conn: Any, media_id: int) -> bool:
    try:
        job = Job.fetch(job_id(media_id), connection=conn)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in _LIVE_JOB_STATES


def sweep_pending(older_than_seconds: int = SWEEP_AFTER_SECONDS, limit: int = 500) -> int:
    """Queue pending inbound files whose job was lost; give up on those past the CDN's expiry."""
    now = utcnow()
    expired = db.session.execute(
        update(_table)
        .where(
            _table.c.status == MediaStatus.PENDING.value,
            _table.c.direction == MediaDirection.IN.value,
            _table.c.created_at < now - GIVE_UP_AFTER,
        )
        .values(status=MediaStatus.FAILED.value, error="not fetched before the link expired")
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if expired:
        logger.warning("media: %s pending file(s) given up (link expired)", expired)
    ids = db.session.scalars(
        select(MediaFile.id)
        .where(
            MediaFile.status == MediaStatus.PENDING,
            MediaFile.direction == MediaDirection.IN,
            MediaFile.created_at <= now - timedelta(seconds=older_than_seconds),
        )
        .order_by(MediaFile.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    if not ids:
        return 0
    conn = queues.get_redis()
    lost = [i for i in ids if not _job_alive(conn, i)]
    queued = enqueue_fetches(lost)
    if queued:
        logger.info("media sweeper queued %s pending fetch(es)", queued)
    return queued
