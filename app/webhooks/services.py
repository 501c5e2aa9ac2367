"""Webhook ingestion (verify, store raw, enqueue) and processing (contacts, conversations, messages).

The web route only verifies and stores; every rule about what an event means lives here so the
job, the sweeper, the admin "reprocess" action and the tests share one implementation.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import hmac
import json
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Engine, Text, create_engine, delete, func, or_, select, type_coerce, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import lazyload, undefer

from app import db
from app.contacts.models import Contact
from app.conversations.models import OUR_METADATA_PREFIX, Conversation, Message
from app.core.context import Actor, acting_as, current_request_id
from app.core.crypto import decrypt, encrypt, keyed_hash
from app.core.models import sqlite_write_lock, utcnow
from app.pages.models import Page
from app.webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

WEBHOOK_ACTOR = Actor(None, "webhook")
JOB_PATH = "app.webhooks.tasks.process_webhook_event"
DRAIN_JOB_PATH = "app.webhooks.tasks.process_pending_events"
DRAIN_FLAG = "omnicrm:webhooks:drain-queued"
DRAIN_FLAG_TTL = 300  # seconds; a lost drain job only delays events until then (or the sweeper)
PROFILE_JOB_PATH = "app.contacts.tasks.fetch_profile"
RETRY_INTERVALS = [10, 60, 300]
# messaging[] keys that name the event kind, in the order we test them
KNOWN_KINDS = ("message", "delivery", "read", "postback", "reaction", "referral", "optin")
MAX_BODY_BYTES = 1024 * 1024


class BadPayload(ValueError):
    """The body is not a Messenger `object: page` payload (answered with 400 and the reason)."""


# --------------------------------------------------------------------------- ingestion


def verify_signature(body: bytes, sig256: str | None, sig1: str | None, secret: str) -> bool:
    """Constant-time check of X-Hub-Signature-256, falling back to the sha1 X-Hub-Signature."""
    if not secret:
        return False
    if sig256:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), sig256.strip().encode("utf-8", "replace"))
    if sig1:
        expected = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return hmac.compare_digest(expected.encode(), sig1.strip().encode("utf-8", "replace"))
    return False


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value Meta would send (used by `simulate`, tests and the bench)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_payload(body: bytes) -> dict:
    """Decode and shape-check a webhook body; raises BadPayload with a reason."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BadPayload(f"body is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadPayload("body must be a JSON object")
    if data.get("object") != "page":
        raise BadPayload('"object" must be "page"')
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise BadPayload('"entry" must be a list')
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadPayload("every entry must be an object")
        items = entry.get("messaging")
        if items is not None and not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            raise BadPayload('"messaging" must be a list of objects')
    return data


def _item_kind(item: dict) -> str:
    if isinstance(item.get("message"), dict):
        return "echo" if item["message"].get("is_echo") else "message"
    for kind in KNOWN_KINDS[1:]:
        if kind in item:
            return kind
    return "unknown"


def _id_of(party: Any) -> str | None:
    if isinstance(party, dict):
        value = party.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)[:64]
            # real ids are digits; anything unprintable (NUL, lone surrogates) is not an id
            if text and text.isprintable() and text.encode("utf-8", "replace").decode() == text:
                return text
    return None


def describe(data: dict) -> tuple[str | None, str, str]:
    """(page_fb_id, psid_hashes "|h1|h2|", summary of event kinds) — no personal data in the summary."""
    pages: list[str] = []
    hashes: set[str] = set()
    kinds: Counter[str] = Counter()
    for entry in data["entry"]:
        page_id = _id_of(entry)
        if page_id and page_id not in pages:
            pages.append(page_id)
        for item in entry.get("messaging") or []:
            kinds[_item_kind(item)] += 1
            for party in (item.get("sender"), item.get("recipient")):
                psid = _id_of(party)
                if psid and psid != page_id:
                    hashes.add(keyed_hash(psid))
        # other entry arrays (standby, changes) are kinds we do not handle
        kinds["unknown"] += sum(1 for other in entry if other not in {"id", "time", "messaging"})
    summary = ",".join(f"{k}:{n}" for k, n in sorted(kinds.items()) if n) or "empty"
    page_fb_id = ",".join(pages)[:64] or None
    psid_hashes = "|" + "|".join(sorted(hashes)) + "|" if hashes else None
    return page_fb_id, psid_hashes or "|", summary[:255]


def ingest_engine() -> Engine:
    """A lean engine for the ingestion INSERT: same database, no pre-ping round trip per request,
    autocommit.

    A dropped connection surfaces as an error on use instead; store_event retries once on a
    fresh connection, and otherwise the webhook answers 503 so Meta retries.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = app.extensions.get("omnicrm_webhook_engine")
    if engine is None:
        options = {k: v for k, v in (app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}).items() if k != "pool_pre_ping"}
        # autocommit: the single INSERT is its own transaction, durable when it returns, in one
        # round trip (no BEGIN / COMMIT / pool-reset ROLLBACK around it)
        engine = create_engine(
            app.config["SQLALCHEMY_DATABASE_URI"],
            pool_pre_ping=False,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            **options,
        )
        app.extensions["omnicrm_webhook_engine"] = engine
    return engine


class StorageUnavailable(RuntimeError):
    """The database did not take the event (answered with 503 so Meta retries)."""


_INSERT_COLUMNS = ("payload", "received_at", "status", "attempts", "page_fb_id", "psid_hashes", "summary")


@functools.cache
def _insert_sql(paramstyle: str) -> str:
    """The one INSERT of the hot path, as plain DB-API SQL (no per-request statement building)."""
    marks = ", ".join(["%s" if paramstyle in ("format", "pyformat") else "?"] * len(_INSERT_COLUMNS))
    return f"INSERT INTO webhook_event ({', '.join(_INSERT_COLUMNS)}) VALUES ({marks}) RETURNING id"  # noqa: S608


def store_event(body: bytes, data: dict) -> int:
    """One INSERT + COMMIT of the raw (encrypted) body on a pooled DB-API connection; returns
    the event id. Raises StorageUnavailable when the database does not take it."""
    page_fb_id, psid_hashes, summary = describe(data)
    params = (encrypt(body.decode("utf-8")), utcnow(), "pending", 0, page_fb_id, psid_hashes, summary)
    engine = ingest_engine()
    dbapi_error = engine.dialect.loaded_dbapi.Error
    for attempt in (1, 2):
        try:
            conn = engine.raw_connection()
        except (DBAPIError, dbapi_error) as exc:  # connect errors may come unwrapped
            raise StorageUnavailable(type(getattr(exc, "orig", None) or exc).__name__) from exc
        try:
            cursor = conn.cursor()
            cursor.execute(_insert_sql(engine.dialect.paramstyle), params)
            event_id = int(cursor.fetchone()[0])
            cursor.close()
            conn.commit()
            conn.close()  # back to the pool
            return event_id
        except dbapi_error as exc:
            disconnected = engine.dialect.is_disconnect(exc, conn, None)
            try:
                conn.invalidate() if disconnected else conn.rollback()
                conn.close()
            except dbapi_error:
                logger.debug("could not clean up a failed ingestion connection")
            if attempt == 2 or not disconnected:  # a dropped pooled connection gets one retry
                raise StorageUnavailable(type(exc).__name__) from exc
    raise AssertionError("unreachable")


def enqueue_event(event_id: int, *, retry: bool = True) -> bool:
    """Give one event its own job (sweeper, reprocess): retried with backoff, then `error`.
    False when Redis is unreachable."""
    from rq import Retry

    from app.core.queues import enqueue, get_redis

    kwargs: dict[str, Any] = {"job_id": f"webhook-event-{event_id}"}
    if retry:
        kwargs["retry"] = Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)
    try:
        with acting_as(WEBHOOK_ACTOR, current_request_id()), get_redis().pipeline() as pipe:
            enqueue(JOB_PATH, event_id, queue="webhooks", pipeline=pipe, **kwargs)
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
    from app.core import metrics
    from app.core.queues import enqueue_once

    metrics.incr(metrics.WEBHOOK_RECEIVED_KEY, count)
    try:
        with acting_as(WEBHOOK_ACTOR, current_request_id()):
            enqueue_once(
                DRAIN_FLAG, DRAIN_FLAG_TTL, DRAIN_JOB_PATH, queue="webhooks", job_id=f"webhook-drain-{event_id}"
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

    def submit(self, app: Any, event_id: int) -> None:
        with self._cond:
            self._count += 1
            self._last_id = event_id
            if self._pid != os.getpid():  # first use in this (possibly forked) process
                self._pid = os.getpid()
                threading.Thread(target=self._run, args=(app,), name="webhook-signal", daemon=True).start()
                atexit.register(self.flush, 2.0)
            self._cond.notify_all()

    def _run(self, app: Any) -> None:
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


def drain(max_rounds: int = 500) -> int:
    """The drain job: clear the flag, then apply pending events batch by batch until none are
    left (bounded: a still-busy stream hands over to a fresh job). Returns events applied."""
    from app.core.queues import get_redis

    get_redis().delete(DRAIN_FLAG)
    total = 0
    for _ in range(max_rounds):
        applied = drain_pending()
        total += applied
        if not applied:
            return total
    signal_new_event(0)
    return total


def requeue_events(event_ids: list[int]) -> int:
    """Admin "reprocess": back to pending and queued again. Returns how many were queued."""
    ids = [int(i) for i in event_ids]
    if not ids:
        return 0
    db.session.execute(
        update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(status="pending", error=None, processed_at=None)
    )
    db.session.commit()
    existing = db.session.scalars(select(WebhookEvent.id).where(WebhookEvent.id.in_(ids))).all()
    return sum(1 for event_id in existing if enqueue_event(event_id))


def sweep_pending(older_than_seconds: int | None = None, limit: int = 1000) -> int:
    """Re-enqueue events left pending (Redis was down, or a job was lost). Returns how many."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from app.core.queues import get_redis

    age = older_than_seconds
    if age is None:
        age = int(current_app.config.get("WEBHOOK_SWEEP_AFTER_SECONDS", 60))
    cutoff = utcnow() - timedelta(seconds=age)
    ids = db.session.scalars(
        select(WebhookEvent.id)
        .where(WebhookEvent.status == "pending", WebhookEvent.received_at <= cutoff)
        .order_by(WebhookEvent.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    conn = get_redis()
    queued = 0
    for event_id in ids:
        try:
            job = Job.fetch(f"webhook-event-{event_id}", connection=conn)
            if job.get_status(refresh=False) in {"queued", "started", "scheduled", "deferred"}:
                continue
        except NoSuchJobError:
            pass
        if enqueue_event(event_id):
            queued += 1
    if queued:
        logger.info("sweeper queued %s pending webhook event(s)", queued)
    return queued


# --------------------------------------------------------------------------- processing
#
# One code path applies a list of events in one transaction: a job applies its own event, then
# drains a batch of other pending events the same way (RQ costs ~25 Redis round trips per job,
# so one job per event alone cannot keep up with a busy page). Lookups are batched: pages,
# contacts, conversations (locked in id order) and known mids are read once per batch.


@dataclass
class Outcome:
    """What processing did (returned to the job and the tests)."""

    handled: int = 0
    skipped: int = 0
    discarded: int = 0
    events: int = 0
    new_contacts: list[int] = field(default_factory=list)


@dataclass
class _Work:
    event: WebhookEvent
    page: Page
    psid: str
    kind: str
    item: dict
    ts: datetime


@dataclass
class _Batch:
    contacts: dict[tuple[int, str], Contact] = field(default_factory=dict)
    convs: dict[int, Conversation] = field(default_factory=dict)  # by contact id
    mids: set[str] = field(default_factory=set)  # mids already stored (or added in this batch)


def _ts(item: dict) -> datetime:
    """Meta's ms timestamp as naive UTC; now when missing or absurd."""
    return _ms(item.get("timestamp")) or utcnow()


def _ms(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 32503680000000:
        return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)
    return None


def _str(value: Any, limit: int = 2000) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    # NUL and lone surrogates cannot be stored (PostgreSQL text/JSONB, UTF-8 encryption)
    return str(value)[:limit].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _dedupe_key(kind: str, psid: str, item: dict) -> str:
    """A stable pseudo-mid for events without one (reactions, referrals, optins), so retries dedupe."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return f"x:{kind}:{keyed_hash(psid + '|' + canonical)}"


def _user_psid(item: dict, kind: str, page_fb_id: str) -> str | None:
    """The person's PSID: the recipient for echoes (sent by the Page), else the sender."""
    psid = _id_of(item.get("recipient") if kind == "echo" else item.get("sender"))
    return psid if psid and psid != page_fb_id else None


def _candidate_mid(work: _Work) -> str | None:
    body = work.item.get(work.kind if work.kind != "echo" else "message")
    if work.kind in {"message", "echo"} or (work.kind == "postback" and isinstance(body, dict) and body.get("mid")):
        return _str(body.get("mid"), 255) if isinstance(body, dict) else None
    if work.kind in {"postback", "reaction", "referral", "optin"}:
        return _dedupe_key(work.kind, work.psid, work.item)
    return None


def _new_row(model: type, lookup, **values: Any) -> Any:
    """Insert a contact/conversation; on a unique-key race re-read the winner's row."""
    try:
        with db.session.begin_nested():
            obj = model(**values)
            db.session.add(obj)
            db.session.flush()
        return obj
    except IntegrityError:
        return db.session.scalars(lookup.execution_options(populate_existing=True)).one()


def _new_rows(model: type, rows: list[dict[str, Any]], lookup: Any) -> list[Any]:
    """Insert many contacts/conversations in one flush; on a race fall back to one by one."""
    if not rows:
        return []
    try:
        with db.session.begin_nested():
            objs = [model(**values) for values in rows]
            db.session.add_all(objs)
            db.session.flush()
        return objs
    except IntegrityError:
        return [_new_row(model, lookup(values), **values) for values in rows]


def _prepare(work: list[_Work], batch: _Batch, outcome: Outcome) -> None:
    """Contacts, conversations (locked, id order) and known mids for every item, in few queries."""
    keys = sorted({(w.page.id, w.psid) for w in work})
    psids = sorted({psid for _, psid in keys})
    for contact in db.session.scalars(
        select(Contact).where(Contact.psid.in_(psids), Contact.page_id.in_({k[0] for k in keys}))
    ):
        batch.contacts[(contact.page_id, contact.psid)] = contact  # type: ignore[index]
    now = utcnow()
    missing = [
        {"page_id": page_id, "psid": psid, "psid_hash": keyed_hash(psid), "first_seen_at": now}
        for page_id, psid in keys
        if (page_id, psid) not in batch.contacts
    ]
    for contact in _new_rows(
        Contact, missing, lambda v: select(Contact).where(Contact.page_id == v["page_id"], Contact.psid == v["psid"])
    ):
        batch.contacts[(contact.page_id, contact.psid)] = contact  # type: ignore[index]
        outcome.new_contacts.append(contact.id)
    contact_ids = sorted({c.id for c in batch.contacts.values()})
    stmt = select(Conversation).where(Conversation.contact_id.in_(contact_ids)).order_by(Conversation.id)
    if db.engine.dialect.name == "postgresql":
        # serialise work on a conversation across workers; id order means no deadlocks
        stmt = stmt.options(lazyload("*")).with_for_update(of=Conversation)
    for conv in db.session.scalars(stmt.execution_options(populate_existing=True)):
        batch.convs.setdefault(conv.contact_id, conv)
    missing = [
        {"page_id": page_id, "contact_id": contact.id, "status": "open", "unread_count": 0}
        for (page_id, _psid), contact in sorted(batch.contacts.items())
        if contact.id not in batch.convs
    ]
    for conv in _new_rows(
        Conversation,
        missing,
        lambda v: select(Conversation).where(
            Conversation.page_id == v["page_id"], Conversation.contact_id == v["contact_id"]
        ),
    ):
        batch.convs[conv.contact_id] = conv
    mids = {m for m in (_candidate_mid(w) for w in work) if m}
    if mids:
        batch.mids.update(db.session.scalars(select(Message.mid).where(Message.mid.in_(mids))))


def _add_message(batch: _Batch, **values: Any) -> Message | None:
    """Add one message; None when its mid is already stored (duplicate delivery)."""
    mid = values.get("mid")
    if mid:
        if mid in batch.mids:
            return None
        batch.mids.add(mid)
    msg = Message(**values)
    db.session.add(msg)
    return msg


def _attachments(message: dict) -> list[dict]:
    out = []
    for att in message.get("attachments") or []:
        if not isinstance(att, dict):
            continue
        payload = att.get("payload") if isinstance(att.get("payload"), dict) else {}
        entry: dict[str, Any] = {
            "type": _str(att.get("type"), 32) or "fallback",
            "url": _str(payload.get("url") or att.get("url"), 2048),
        }
        if att.get("title"):
            entry["title"] = _str(att.get("title"), 255)
        coords = payload.get("coordinates")
        if isinstance(coords, dict):
            entry["coordinates"] = {k: coords.get(k) for k in ("lat", "long")}
        out.append(entry)
    return out


def _touch_inbound(conv: Conversation, contact: Contact, ts: datetime, *, unread: bool = True) -> None:
    conv.last_message_at = max(conv.last_message_at or ts, ts)
    conv.last_inbound_at = max(conv.last_inbound_at or ts, ts)
    contact.last_inbound_at = max(contact.last_inbound_at or ts, ts)
    if unread:
        conv.unread_count = (conv.unread_count or 0) + 1
    if conv.status == "closed":
        conv.status = "open"


def _handle_message(batch: _Batch, conv: Conversation, contact: Contact, w: _Work) -> bool:
    message = w.item["message"]
    text = _str(message.get("text"))
    atts = _attachments(message)
    meta: dict[str, Any] = {}
    qr = message.get("quick_reply")
    if isinstance(qr, dict) and qr.get("payload") is not None:
        meta["quick_reply_payload"] = _str(qr.get("payload"), 1000)
    if isinstance(message.get("reply_to"), dict) and message["reply_to"].get("mid"):
        meta["reply_to_mid"] = _str(message["reply_to"]["mid"], 255)
    if text is None and not atts:
        return False
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=_str(message.get("mid"), 255),
        direction="in",
        text=text,
        attachments=atts or None,
        kind="attachment" if atts and text is None else "text",
        status="received",
        created_at=w.ts,
        meta=meta or None,
    )
    if msg is not None:
        _touch_inbound(conv, contact, w.ts)
    return True


def _handle_echo(batch: _Batch, conv: Conversation, w: _Work) -> bool:
    message = w.item["message"]
    mid = _str(message.get("mid"), 255)
    metadata = message.get("metadata")
    if isinstance(metadata, str) and metadata.startswith(OUR_METADATA_PREFIX):
        ours_id = metadata[len(OUR_METADATA_PREFIX) :]
        ours = db.session.get(Message, int(ours_id)) if ours_id.isdigit() and len(ours_id) < 12 else None
        if ours is not None and ours.conversation_id == conv.id:
            if ours.mid is None and mid and mid not in batch.mids:
                ours.mid = mid
                batch.mids.add(mid)
            if ours.status in {"queued", "sending"}:
                ours.status = "sent"
            ours.sent_at = ours.sent_at or w.ts
            return True
    text = _str(message.get("text"))
    atts = _attachments(message)
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=mid,
        direction="out",
        text=text,
        attachments=atts or None,
        kind="attachment" if atts and text is None else "text",
        status="sent",
        created_at=w.ts,
        sent_at=w.ts,
        meta={"echo": True, "app_id": _str(message.get("app_id"), 64)},
    )
    if msg is not None:
        conv.last_message_at = max(conv.last_message_at or w.ts, w.ts)
    return True


def _bulk_status(conv: Conversation, statuses: tuple[str, ...], cond: Any, values: dict[str, Any]) -> None:
    """Watermark update of our outbound messages; pending changes are flushed first so the
    UPDATE sees them, and loaded messages are expired after so nothing stale is written back."""
    if db.session.new or db.session.dirty:
        db.session.flush()
    db.session.execute(
        update(Message)
        .where(
            Message.conversation_id == conv.id,
            Message.direction == "out",
            Message.status.in_(statuses),
            cond,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Message) and obj.conversation_id == conv.id:
            db.session.expire(obj)


def _sent_before(watermark: datetime) -> Any:
    return func.coalesce(Message.sent_at, Message.created_at) <= watermark


def _handle_delivery(conv: Conversation, w: _Work) -> bool:
    delivery = w.item["delivery"] if isinstance(w.item["delivery"], dict) else {}
    watermark = _ms(delivery.get("watermark"))
    raw_mids = delivery.get("mids") if isinstance(delivery.get("mids"), list) else []
    mids = [str(m)[:255] for m in raw_mids if isinstance(m, str) and _str(m) == m]
    conds = []
    if watermark is not None:
        conds.append(_sent_before(watermark))
    if mids:
        conds.append(Message.mid.in_(mids))
    if not conds:
        return False
    now = watermark or utcnow()
    _bulk_status(
        conv,
        ("sending", "sent"),
        or_(*conds),
        {"status": "delivered", "delivered_at": func.coalesce(Message.delivered_at, now)},
    )
    return True


def _handle_read(conv: Conversation, w: _Work) -> bool:
    read = w.item["read"] if isinstance(w.item["read"], dict) else {}
    watermark = _ms(read.get("watermark"))
    if watermark is None:
        return False
    _bulk_status(
        conv,
        ("sending", "sent", "delivered"),
        _sent_before(watermark),
        {
            "status": "read",
            "read_at": func.coalesce(Message.read_at, watermark),
            "delivered_at": func.coalesce(Message.delivered_at, watermark),
        },
    )
    return True


def _handle_postback(batch: _Batch, conv: Conversation, contact: Contact, w: _Work) -> bool:
    postback = w.item["postback"] if isinstance(w.item["postback"], dict) else {}
    meta: dict[str, Any] = {"payload": _str(postback.get("payload"), 1000)}
    if isinstance(postback.get("referral"), dict):
        meta["referral"] = {k: _str(postback["referral"].get(k), 255) for k in ("ref", "source", "type")}
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=_candidate_mid(w),
        direction="in",
        text=_str(postback.get("title")),
        kind="postback",
        status="received",
        created_at=w.ts,
        meta=meta,
    )
    if msg is not None:
        _touch_inbound(conv, contact, w.ts)
    return True


def _handle_reaction(batch: _Batch, conv: Conversation, w: _Work) -> bool:
    reaction = w.item["reaction"] if isinstance(w.item["reaction"], dict) else {}
    meta = {k: _str(reaction.get(k), 255) for k in ("reaction", "emoji", "action", "mid")}
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=_candidate_mid(w),
        direction="in",
        text=meta["emoji"],
        kind="reaction",
        status="received",
        created_at=w.ts,
        meta=meta,
    )
    if msg is not None:
        conv.last_message_at = max(conv.last_message_at or w.ts, w.ts)
    return True


def _handle_simple(batch: _Batch, conv: Conversation, contact: Contact, w: _Work) -> bool:
    """Referrals and optins: a message of that kind with their non-personal fields."""
    body = w.item[w.kind] if isinstance(w.item[w.kind], dict) else {}
    keys = ("ref", "source", "type", "ad_id") if w.kind == "referral" else ("ref", "type", "title")
    meta = {k: _str(body.get(k), 255) for k in keys if body.get(k) is not None}
    msg = _add_message(
        batch,
        conversation_id=conv.id,
        mid=_candidate_mid(w),
        direction="in",
        text=None,
        kind=w.kind,
        status="received",
        created_at=w.ts,
        meta=meta or None,
    )
    if msg is not None:
        _touch_inbound(conv, contact, w.ts, unread=False)
    return True


def _handle(batch: _Batch, w: _Work) -> bool:
    """Apply one item to its contact's conversation; False when it carried nothing to apply."""
    contact = batch.contacts[(w.page.id, w.psid)]
    conv = batch.convs[contact.id]
    if w.kind == "message":
        return _handle_message(batch, conv, contact, w)
    if w.kind == "echo":
        return _handle_echo(batch, conv, w)
    if w.kind == "delivery":
        return _handle_delivery(conv, w)
    if w.kind == "read":
        return _handle_read(conv, w)
    if w.kind == "postback":
        return _handle_postback(batch, conv, contact, w)
    if w.kind == "reaction":
        return _handle_reaction(batch, conv, w)
    return _handle_simple(batch, conv, contact, w)


# what a person does themselves: after their erasure, one of these starts a fresh contact
PERSON_KINDS = frozenset({"message", "postback", "reaction", "referral", "optin"})


def _drop_erased(candidates: list[_Work]) -> tuple[list[_Work], set[int]]:
    """Split off an erased person's items, item by item; returns (work, ids of events that had some).

    An item timestamped at or before the person's (latest) erasure, or without a timestamp, is a
    late retry: discarded. A newer item the person sent themselves (PERSON_KINDS) is them writing
    again: applied, to a fresh contact (the tombstone's PSID is gone, so `_prepare` creates one).
    Newer deliveries, reads and echoes apply only to such a fresh contact, never create one.
    """
    hashes = {keyed_hash(w.psid): w.psid for w in candidates}
    if not hashes:
        return candidates, set()
    rows = db.session.execute(
        select(Contact.psid_hash, func.max(Contact.erased_at))
        .where(Contact.psid_hash.in_(hashes), Contact.erased_at.is_not(None))
        .group_by(Contact.psid_hash)
    ).all()
    erased_at = {hashes[h]: at for h, at in rows}
    if not erased_at:
        return candidates, set()
    live = set(
        db.session.execute(
            select(Contact.page_id, Contact.psid).where(Contact.psid.in_(erased_at), Contact.erased_at.is_(None))
        ).tuples()
    )

    def new_since_erasure(w: _Work) -> bool:
        ts = _ms(w.item.get("timestamp"))
        return ts is not None and ts > erased_at[w.psid]

    live.update(
        (w.page.id, w.psid)
        for w in candidates
        if w.psid in erased_at and w.kind in PERSON_KINDS and new_since_erasure(w)
    )
    work: list[_Work] = []
    dropped: set[int] = set()
    for w in candidates:
        if w.psid not in erased_at or (new_since_erasure(w) and (w.page.id, w.psid) in live):
            work.append(w)
        else:
            dropped.add(w.event.id)
    return work, dropped


def _apply(events: list[WebhookEvent], raw: dict[int, str] | None = None) -> Outcome:
    """Apply events (already locked/claimed by the caller) in the current transaction.

    `raw` holds still-encrypted payloads (batches), so a bad one fails here, inside the
    caller's error handling, not while the batch is being claimed."""
    outcome = Outcome(events=len(events))
    decoded: list[tuple[WebhookEvent, list]] = []
    page_ids: set[str] = set()
    for event in events:
        data = json.loads(decrypt(raw[event.id]) if raw is not None else event.payload)
        entries = data.get("entry") if isinstance(data, dict) and isinstance(data.get("entry"), list) else []
        decoded.append((event, entries))
        page_ids.update(pid for e in entries if isinstance(e, dict) and (pid := _id_of(e)))
    pages = {p.fb_page_id: p for p in db.session.scalars(select(Page).where(Page.fb_page_id.in_(page_ids)))}

    candidates: list[_Work] = []
    handled: dict[int, int] = {}
    for event, entries in decoded:
        handled[event.id] = 0
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            page_fb_id = _id_of(entry) or ""
            page = pages.get(page_fb_id)
            outcome.skipped += sum(1 for k in entry if k not in {"id", "time", "messaging"})
            items = entry.get("messaging") if isinstance(entry.get("messaging"), list) else []
            for item in items:
                kind = _item_kind(item) if isinstance(item, dict) else "unknown"
                psid = _user_psid(item, kind, page_fb_id) if kind != "unknown" else None
                if page is None or psid is None:
                    outcome.skipped += 1
                    continue
                candidates.append(_Work(event, page, psid, kind, item, _ts(item)))

    work, erased_events = _drop_erased(candidates)
    outcome.discarded = len(candidates) - len(work)

    batch = _Batch()
    if work:
        _prepare(work, batch, outcome)
    for w in sorted(work, key=lambda w: (w.ts, w.event.id)):
        if _handle(batch, w):
            outcome.handled += 1
            handled[w.event.id] += 1
        else:
            outcome.skipped += 1

    # event bookkeeping as set-based statements (one per outcome, not one UPDATE per event)
    db.session.flush()
    now = utcnow()
    # an event that carried an erased person's late items is deleted once the rest is applied:
    # its raw body still holds their words
    done = [e.id for e in events if e.id not in erased_events]
    for status in ("processed", "skipped"):
        ids = [i for i in done if bool(handled[i]) == (status == "processed")]
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
    return outcome


def process_event(event_id: int) -> Outcome:
    """Apply one stored event, all or nothing, in one transaction. Idempotent."""
    sqlite_write_lock(db.session.connection(), "webhook_event")  # concurrent workers serialise
    stmt = select(WebhookEvent).where(WebhookEvent.id == event_id).options(undefer(WebhookEvent.payload))
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # wait for a batch that holds it, then see its result
    event = db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    if event is None or event.status in {"processed", "skipped"}:
        db.session.rollback()
        return Outcome()
    outcome = _apply([event])
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
        outcome = _apply(events, raw)
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


def _claim_pending(size: int, only_id: int | None = None) -> tuple[list[WebhookEvent], dict[int, str]]:
    """Pending, never-failed events, oldest first, with their payloads still encrypted;
    PostgreSQL skips rows another worker holds."""
    stmt = (
        select(WebhookEvent, type_coerce(WebhookEvent.__table__.c.payload, Text))
        .where(WebhookEvent.status == "pending", WebhookEvent.attempts == 0)
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
            outcome = _apply(events, raw)
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
    from rq.job import Job

    from app.core.queues import get_queue

    if not event_ids:
        return
    try:
        queue = get_queue("webhooks")
        job_ids = [f"webhook-event-{i}" for i in event_ids]
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
        values["status"] = "error"
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))
    db.session.commit()


def queue_profile_fetch(contact_id: int) -> None:
    """Ask for the new contact's name and picture; soft: no Redis, no profile (the contact stays)."""
    from app.core.queues import enqueue

    try:
        with acting_as(WEBHOOK_ACTOR):
            enqueue(PROFILE_JOB_PATH, contact_id, queue="default")
    except Exception as exc:  # noqa: BLE001
        logger.warning("profile fetch for contact %s not queued: %s", contact_id, type(exc).__name__)
