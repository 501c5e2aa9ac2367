"""Ingestion: check the signature and shape of a POST, then store the raw event durably.

The route answers 200 only after `store_event` returns, so this module is the promise that
nothing acknowledged is lost; it does no processing (that is `batch` and `apply`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from flask import current_app
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError

from app.core.crypto import encrypt, keyed_hash
from app.core.models import utcnow
from app.webhooks.exceptions import BadPayload, StorageUnavailable
from app.webhooks.models import EventStatus
from app.webhooks.payload import ENTRY_KEYS, HANDLED_OBJECTS, id_of, item_kind

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
_INSERT_COLUMNS = ("payload", "received_at", "status", "attempts", "page_fb_id", "psid_hashes", "summary")


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


def parse_payload(body: bytes) -> dict[str, Any]:
    """Decode and shape-check a webhook body; raises BadPayload with a reason."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BadPayload(f"body is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadPayload("body must be a JSON object")
    if not isinstance(data.get("object"), str) or not data["object"]:
        raise BadPayload('"object" must be a non-empty string ("page" or "instagram")')
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


def describe(data: dict[str, Any]) -> tuple[str | None, str, str]:
    """(page_fb_id, psid_hashes "|h1|h2|", summary of event kinds) — no personal data in the summary."""
    pages: list[str] = []
    hashes: set[str] = set()
    kinds: Counter[str] = Counter()
    for entry in data["entry"]:
        page_id = id_of(entry)
        if page_id and page_id not in pages:
            pages.append(page_id)
        for item in entry.get("messaging") or []:
            kinds[item_kind(item)] += 1
            for party in (item.get("sender"), item.get("recipient")):
                psid = id_of(party)
                if psid and psid != page_id:
                    hashes.add(keyed_hash(psid))
        # other entry arrays (standby, changes) are kinds we do not handle
        kinds["unknown"] += sum(1 for other in entry if other not in ENTRY_KEYS)
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
    engine: Engine | None = app.extensions.get("omnicrm_webhook_engine")
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


@functools.cache
def _insert_sql(paramstyle: str) -> str:
    """The one INSERT of the hot path, as plain DB-API SQL (no per-request statement building)."""
    marks = ", ".join(["%s" if paramstyle in ("format", "pyformat") else "?"] * len(_INSERT_COLUMNS))
    return f"INSERT INTO webhook_event ({', '.join(_INSERT_COLUMNS)}) VALUES ({marks}) RETURNING id"  # noqa: S608


def initial_status(data: dict[str, Any]) -> EventStatus:
    """Pending for the objects the product handles; any other `object` (`user`,
    `whatsapp_business_account`, ...) is stored as skipped so Meta never sees a failure."""
    return EventStatus.PENDING if data.get("object") in HANDLED_OBJECTS else EventStatus.SKIPPED


def store_event(body: bytes, data: dict[str, Any]) -> int:
    """One INSERT + COMMIT of the raw (encrypted) body on a pooled DB-API connection; returns
    the event id. Raises StorageUnavailable when the database does not take it."""
    page_fb_id, psid_hashes, summary = describe(data)
    status = initial_status(data).value
    params = (encrypt(body.decode("utf-8")), utcnow(), status, 0, page_fb_id, psid_hashes, summary)
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
            # INSERT ... RETURNING id always yields exactly one row
            event_id = int(cast(Sequence[Any], cursor.fetchone())[0])
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
