"""Processing stored events: one event (its job), a batch of pending ones, the drain job.

One code path applies a list of events in one transaction: a job applies its own event, then
drains a batch of other pending events the same way (RQ costs ~25 Redis round trips per job,
so one job per event alone cannot keep up with a busy page). Lookups are batched: pages,
contacts, conversations (locked in id order) and known mids are read once per batch.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import current_app
from rq.job import Job
from sqlalchemy import Text, delete, select, type_coerce, update
from sqlalchemy.orm import undefer

from app import db
from app.conversations.assignment import auto_assign
from app.core import queues
from app.core.channels import Channel
from app.core.crypto import decrypt
from app.core.models import sqlite_write_lock, utcnow
from app.pages.models import Page
from app.webhooks import apply, erasure, instagram, lookups
from app.webhooks.models import EventStatus, WebhookEvent
from app.webhooks.payload import ENTRY_KEYS, OBJECT_CHANNELS, id_of, item_kind, ts, user_psid
from app.webhooks.profiles import queue_profile_fetch
from app.webhooks.signals import DRAIN_FLAG, event_job_id, signal_new_event
from app.webhooks.work import Batch, Outcome, Work

logger = logging.getLogger(__name__)

# an event is done once applied: these are never applied again
_DONE = frozenset({EventStatus.PROCESSED, EventStatus.SKIPPED})


def _decode(
    events: list[WebhookEvent], raw: dict[int, str] | None
) -> tuple[list[tuple[WebhookEvent, list[Any], str | None]], dict[str, Page]]:
    """Each event's entries and channel (None: an object we do not apply), and the connected
    pages they name: by Facebook Page id, or "ig:" + the linked Instagram account id."""
    decoded: list[tuple[WebhookEvent, list[Any], str | None]] = []
    page_ids: set[str] = set()
    ig_ids: set[str] = set()
    for event in events:
        data = json.loads(decrypt(raw[event.id]) if raw is not None else event.payload)
        entries = data.get("entry") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            entries = []
        channel = OBJECT_CHANNELS.get(str(data.get("object"))) if isinstance(data, dict) else None
        decoded.append((event, entries, channel))
        ids = ig_ids if channel == Channel.INSTAGRAM else page_ids
        ids.update(pid for e in entries if isinstance(e, dict) and (pid := id_of(e)))
    pages = {p.fb_page_id: p for p in db.session.scalars(select(Page).where(Page.fb_page_id.in_(page_ids)))}
    if ig_ids:
        pages.update(instagram.linked_pages(ig_ids))
    return decoded, pages


def _entry_work(
    event: WebhookEvent, entry: dict[str, Any], pages: dict[str, Page], outcome: Outcome, channel: str | None
) -> list[Work]:
    """The applicable items of one entry; the rest (no page, no person, unknown) are skipped."""
    page_fb_id = id_of(entry) or ""
    page = pages.get(instagram.page_key(channel, page_fb_id)) if channel else None
    outcome.skipped += sum(1 for k in entry if k not in ENTRY_KEYS)
    items = entry.get("messaging")
    if not isinstance(items, list):
        items = []
    work: list[Work] = []
    for item in items:
        kind = item_kind(item) if isinstance(item, dict) else "unknown"
        psid = user_psid(item, kind, page_fb_id) if kind != "unknown" else None
        if page is None or psid is None or channel is None:
            outcome.skipped += 1
            continue
        work.append(Work(event, page, psid, kind, item, ts(item), channel))
    return work


def _mark_done(events: list[WebhookEvent], handled: dict[int, int], erased_events: set[int]) -> None:
    """Event bookkeeping as set-based statements (one per outcome, not one UPDATE per event)."""
    db.session.flush()
    now = utcnow()
    # an event that carried an erased person's late items is deleted once the rest is applied:
    # its raw body still holds their words
    done = [e.id for e in events if e.id not in erased_events]
    for status in (EventStatus.PROCESSED, EventStatus.SKIPPED):
        ids = [i for i in done if bool(handled[i]) == (status == EventStatus.PROCESSED)]
        if ids:
            db.session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id.in_(ids))
                .values(status=status, processed_at=now, error=None, attempts=WebhookEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
    if erased_events:
        db.session.execute(
            delete(WebhookEvent).where(WebhookEvent.id.in_(erased_events)).execution_options(synchronize_session=False)
        )
    for event in events:
        db.session.expire(event)


def apply_events(events: list[WebhookEvent], raw: dict[int, str] | None = None) -> Outcome:
    """Apply events (already locked/claimed by the caller) in the current transaction.

    `raw` holds still-encrypted payloads (batches), so a bad one fails here, inside the
    caller's error handling, not while the batch is being claimed."""
    outcome = Outcome(events=len(events))
    decoded, pages = _decode(events, raw)
    candidates: list[Work] = []
    handled: dict[int, int] = {}
    for event, entries, channel in decoded:
        handled[event.id] = 0
        for entry in entries:
            if isinstance(entry, dict):
                candidates.extend(_entry_work(event, entry, pages, outcome, channel))

    work, erased_events = erasure.drop_erased(candidates)
    outcome.discarded = len(candidates) - len(work)

    batch = Batch()
    if work:
        lookups.prepare(work, batch, outcome)
    for w in sorted(work, key=lambda w: (w.ts, w.event.id)):
        if (instagram.handle if w.channel == Channel.INSTAGRAM else apply.handle)(batch, w):
            outcome.handled += 1
            handled[w.event.id] += 1
        else:
            outcome.skipped += 1
    auto_assign(c for c in batch.convs.values() if c.id in batch.arrivals)
    _mark_done(events, handled, erased_events)
    return outcome


def process_event(event_id: int) -> Outcome:
    """Apply one stored event, all or nothing, in one transaction. Idempotent."""
    sqlite_write_lock(db.session.connection(), "webhook_event")  # concurrent workers serialise
    stmt = select(WebhookEvent).where(WebhookEvent.id == event_id).options(undefer(WebhookEvent.payload))
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # wait for a batch that holds it, then see its result
    event = db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    if event is None or event.status in _DONE:
        db.session.rollback()
        return Outcome()
    outcome = apply_events([event])
    db.session.commit()
    for contact_id in outcome.new_contacts:
        queue_profile_fetch(contact_id)
    return outcome


def drain_pending(limit: int | None = None) -> int:
    """Apply a batch of other pending events in one transaction and drop their now-needless jobs.

    Events of a failed batch stay pending: their own jobs apply them one by one (with retries).
    Returns how many events the batch applied.
    """
    size = int(limit if limit is not None else current_app.config.get("WEBHOOK_BATCH_SIZE", 200))
    if size <= 0:
        return 0
    events, raw = _claim_pending(size)
    if not events:
        db.session.rollback()
        return 0
    ids = [e.id for e in events]
    try:
        outcome = apply_events(events, raw)
        db.session.commit()
        applied = ids
    except Exception as exc:  # noqa: BLE001 - retried one by one below
        db.session.rollback()
        logger.warning("webhook batch of %s failed (%s); applying one by one", len(ids), type(exc).__name__)
        outcome, applied = _apply_one_by_one(ids)
    _drop_jobs(applied)
    for contact_id in outcome.new_contacts:
        queue_profile_fetch(contact_id)
    return len(applied)


def drain(max_rounds: int = 500) -> int:
    """The drain job: clear the flag, then apply pending events batch by batch until none are
    left (bounded: a still-busy stream hands over to a fresh job). Returns events applied."""
    queues.get_redis().delete(DRAIN_FLAG)
    total = 0
    for _ in range(max_rounds):
        applied = drain_pending()
        total += applied
        if not applied:
            return total
    signal_new_event(0)
    return total


def _claim_pending(size: int, only_id: int | None = None) -> tuple[list[WebhookEvent], dict[int, str]]:
    """Pending, never-failed events, oldest first, with their payloads still encrypted;
    PostgreSQL skips rows another worker holds."""
    stmt = (
        select(WebhookEvent, type_coerce(WebhookEvent.__table__.c.payload, Text))
        .where(WebhookEvent.status == EventStatus.PENDING, WebhookEvent.attempts == 0)
        .order_by(WebhookEvent.id)
        .limit(size)
        .execution_options(populate_existing=True)
    )
    if only_id is not None:
        stmt = stmt.where(WebhookEvent.id == only_id)
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=WebhookEvent)
    sqlite_write_lock(db.session.connection(), "webhook_event")  # concurrent workers serialise
    rows = db.session.execute(stmt).all()
    return [row[0] for row in rows], {row[0].id: row[1] for row in rows}


def _apply_one_by_one(ids: list[int]) -> tuple[Outcome, list[int]]:
    """After a failed batch: each event alone; a failing one is counted and left to its job."""
    total = Outcome()
    applied: list[int] = []
    for event_id in ids:
        try:
            events, raw = _claim_pending(1, only_id=event_id)
            if not events:
                db.session.rollback()
                continue
            outcome = apply_events(events, raw)
            db.session.commit()
        except Exception as exc:  # noqa: BLE001 - this event's own job retries it
            record_failure(event_id, f"{type(exc).__name__}: {exc}", final=False)
            continue
        applied.append(event_id)
        total.new_contacts.extend(outcome.new_contacts)
    return total, applied


def _drop_jobs(event_ids: list[int]) -> None:
    """Remove still-queued jobs of events a batch applied (a job already taken just finds its
    event processed and returns)."""
    if not event_ids:
        return
    try:
        queue = queues.get_queue("webhooks")
        job_ids = [event_job_id(i) for i in event_ids]
        with queue.connection.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.lrem(queue.key, 1, job_id)
            removed = pipe.execute()
        with queue.connection.pipeline(transaction=False) as pipe:
            for job_id, count in zip(job_ids, removed, strict=True):
                if count:
                    pipe.delete(Job.key_for(job_id))
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - leftover jobs are harmless no-ops
        logger.info("could not drop applied webhook jobs: %s", type(exc).__name__)


def record_failure(event_id: int, reason: str, final: bool) -> None:
    """After a failed attempt: count it, keep the reason; the last attempt leaves status `error`."""
    db.session.rollback()
    values: dict[str, Any] = {"attempts": WebhookEvent.attempts + 1, "error": reason[:2000]}
    if final:
        values["status"] = EventStatus.ERROR
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))
    db.session.commit()
