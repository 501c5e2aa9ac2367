"""Audit writes and chain verification.

Every row's `hash = sha256(prev_hash + canonical_json(row))`; the chain head is read and the
new rows are inserted while the writer holds the chain lock (PostgreSQL: a transaction-scoped
advisory lock; SQLite: the database write lock, taken *before* the head is read), so two
writers can never fork the chain. `audit_head` keeps a signed copy of the last row so that
deleting the tail of the chain is detected too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app import db
from app.audit import anchor, chain
from app.audit.models import AuditHead, AuditLog, AuditSegment
from app.audit.signing import head_signature
from app.core.context import Actor, current_actor, current_request_id
from app.core.models import sqlite_write_lock, utcnow
from app.core.queues import get_redis

if TYPE_CHECKING:
    import psycopg

    from app.audit.verify import VerifyResult

logger = logging.getLogger(__name__)

GENESIS = chain.GENESIS
REDACTED = "[redacted]"
# Arbitrary constant shared by every writer: the key of the PostgreSQL advisory lock.
ADVISORY_LOCK_KEY = 72_616_873_001
# Field names whose values never enter an audit row (encrypted columns are added automatically).
PERSONAL_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "notes",
        "text",
        "attachments",
        "access_token",
        "psid",
        "psid_hash",
        "psid_hashes",
        "email",
        "password",
        "payload",
        "profile_pic",
        "details",
        "subject_ref",
        "export_path",
        "error_message",
        "token",
        "name_on_request",
    }
)
# What a row's hash covers: every column but the id and the two hashes (chain.COLUMNS order).
HASHED_FIELDS = chain.COLUMNS[1:-2]
_audit_table = AuditLog.__table__
_head_table = AuditHead.__table__
_segment_table = AuditSegment.__table__


# --------------------------------------------------------------------------- values & hashing


def jsonable(value: Any) -> Any:
    """Values as JSON that survives a round trip through JSON/JSONB unchanged."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (float, Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "[binary]"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def redact(changes: dict[str, Any] | None) -> dict[str, Any] | None:
    """Business callers' `changes`: keys that name personal fields keep only the name."""
    if changes is None:
        return None
    return {k: (REDACTED if k in PERSONAL_FIELDS else jsonable(v)) for k, v in changes.items()}


_ts = chain.ts


_SORT = chain.SORT


def canonical_json(row: dict[str, Any]) -> bytes:
    """The hashed form of a row: a JSON array of its fields in a fixed order, sorted keys,
    no spaces, UTF-8 (orjson: the verifier walks a million rows in seconds)."""
    values = [_ts(row["created_at"]), *(row[f] for f in HASHED_FIELDS[1:])]
    return orjson.dumps(values, option=_SORT)


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(row)).hexdigest()


# --------------------------------------------------------------------------- writing


def make_row(
    action: str,
    entity_type: str | None = None,
    entity_id: Any = None,
    changes: dict[str, Any] | None = None,
    actor: Actor | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A row without its hashes; `append_rows` chains it."""
    actor = actor or current_actor()
    return {
        "created_at": utcnow(),
        "actor_id": actor.id,
        "actor_name": (actor.name or "system")[:255],
        "action": action[:64],
        "entity_type": entity_type[:64] if entity_type else None,
        "entity_id": None if entity_id is None else str(entity_id)[:64],
        "changes": changes,
        "ip": (actor.ip or None) and actor.ip[:64],
        "user_agent": (actor.user_agent or None) and actor.user_agent[:512],
        "request_id": request_id if request_id is not None else current_request_id(),
    }


def lock_chain(conn: Connection) -> None:
    """Serialise chain writers until this transaction ends (must precede reading the head)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
    else:  # SQLite: no other process can append between our read of the head and commit
        sqlite_write_lock(conn, "audit_head")


def append_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Chain and insert rows in the connection's transaction (one executemany)."""
    if not rows:
        return
    lock_chain(conn)
    t = _audit_table
    head = conn.execute(select(t.c.id, t.c.hash).order_by(t.c.id.desc()).limit(1)).first()
    if head is not None:
        prev = head.hash
    else:  # empty table: the chain goes on from the last archived row, if any was archived
        seg = _segment_table.c
        prev = conn.execute(select(seg.start_prev_hash).order_by(seg.id.desc()).limit(1)).scalar() or GENESIS
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = row_hash(prev, row)
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy_rows(conn, rows)
    else:
        conn.execute(_audit_table.insert(), rows)
    last_id = conn.execute(select(_audit_table.c.id).where(_audit_table.c.hash == prev)).scalar_one()
    _write_head(conn, last_id, prev)


COPY_THRESHOLD = 20
_COPY_COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash")


def _copy_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Big flushes on PostgreSQL: COPY on the same connection (same transaction)."""
    cursor = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection).cursor()  # the psycopg dialect
    try:
        with cursor.copy(f"COPY audit_log ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                values = [row[c] for c in _COPY_COLUMNS]
                changes = row["changes"]
                values[6] = None if changes is None else orjson.dumps(changes).decode()
                copy.write_row(values)
    finally:
        cursor.close()


def _write_head(conn: Connection, last_id: int, last_hash: str) -> None:
    values = {
        "id": 1,
        "last_id": last_id,
        "last_hash": last_hash,
        "updated_at": utcnow(),
        "signature": head_signature(last_id, last_hash),
    }
    updates = {k: v for k, v in values.items() if k != "id"}
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(_head_table).values(**values).on_conflict_do_update(index_elements=["id"], set_=updates))
    else:
        conn.execute(
            sqlite_insert(_head_table).values(**values).on_conflict_do_update(index_elements=["id"], set_=updates)
        )
    anchor.stage(conn, last_id, last_hash)


TX_WRITES = "audit_tx_writes"


def _session_connection() -> Connection:
    db.session.info[TX_WRITES] = True
    conn: Connection = db.session.connection()
    return conn


def session_has_written() -> bool:
    """True once the session's open transaction flushed or audited something.

    Then it holds the chain lock (PostgreSQL) or the write lock (SQLite), and a second
    connection of this same thread would wait for it forever.
    """
    return bool(db.session.info.get(TX_WRITES))


def record(
    action: str,
    entity_type: str | None = None,
    entity_id: Any = None,
    changes: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Append one business event to the audit log in the current transaction.

    `extra` keyword values are merged into `changes` (personal keys are redacted).
    """
    merged = dict(changes or {})
    merged.update(extra)
    append_rows(_session_connection(), [make_row(action, entity_type, entity_id, redact(merged) or None)])


def record_standalone(rows: list[dict[str, Any]]) -> None:
    """Commit audit rows on their own connection, leaving the caller's session untouched."""
    with db.engine.begin() as conn:
        append_rows(conn, rows)


def record_auth_event(action: str, username: str, user_id: int | None, **extra: Any) -> None:
    """Append an authentication event (committed on its own).

    The actor is the person logging in (by username snapshot), with the request's IP and agent.
    """
    base = current_actor()
    actor = Actor(user_id, (username or "?")[:255], base.ip, base.user_agent)
    changes = redact({k: v for k, v in extra.items()}) or None
    row = make_row(action, "ab_user", user_id, changes, actor=actor)
    try:
        if session_has_written():
            # Rare (hooks run after FAB's commit): joining the caller's transaction beats a deadlock.
            logger.warning("auth event %s recorded in the caller's open transaction", action)
            append_rows(_session_connection(), [row])
        else:
            record_standalone([row])
    except Exception:
        logger.exception("could not record auth event %s", action)


# --------------------------------------------------------------------------- signature failures

SIGFAIL_PREFIX = "omnicrm:audit:sigfail:"
SIGFAIL_PENDING = "omnicrm:audit:sigfail:pending"


def _minute(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M")


def record_signature_failure(now: datetime | None = None) -> None:
    """Count a webhook signature failure; earlier minutes are flushed as one row each.

    Counted in Redis (one INCR per attack request, no database write), so a flood of forged
    requests costs one audit row per minute.
    """
    minute = _minute(now or utcnow())
    try:
        r = get_redis()
        pipe = r.pipeline()
        pipe.incr(SIGFAIL_PREFIX + minute)
        pipe.expire(SIGFAIL_PREFIX + minute, 7 * 86400)
        pipe.sadd(SIGFAIL_PENDING, minute)
        pipe.execute()
        flush_signature_failures(now)
    except Exception:
        logger.exception("could not count a webhook signature failure")


def flush_signature_failures(now: datetime | None = None, include_current: bool = False) -> int:
    """Write one `webhook_signature_failed` row per finished minute. Returns rows written."""
    current = _minute(now or utcnow())
    r = get_redis()
    rows = []
    for raw in sorted(r.smembers(SIGFAIL_PENDING)):
        minute = raw.decode() if isinstance(raw, bytes) else str(raw)
        if minute >= current and not include_current:
            continue
        pipe = r.pipeline(transaction=True)
        pipe.get(SIGFAIL_PREFIX + minute)
        pipe.delete(SIGFAIL_PREFIX + minute)
        pipe.srem(SIGFAIL_PENDING, minute)
        count, _, _ = pipe.execute()
        if count:  # another process may have flushed this minute already
            rows.append(
                make_row(
                    "webhook_signature_failed",
                    "webhook",
                    None,
                    {"count": int(count), "minute": minute},
                    actor=Actor(None, "system"),
                )
            )
    if rows:
        record_standalone(rows)
    return len(rows)


# --------------------------------------------------------------------------- alert

ALERT_KEY = "omnicrm:audit:chain_broken"


def set_alert(result: VerifyResult) -> None:
    """A broken chain raises a banner for Admins (Redis) until a later verification clears it."""
    payload = {"row_id": result.broken_id, "reason": result.reason, "at": _ts(utcnow())}
    get_redis().set(ALERT_KEY, json.dumps(payload))


def clear_alert() -> None:
    """The chain verified again: drop the banner."""
    get_redis().delete(ALERT_KEY)


def current_alert() -> dict[str, Any] | None:
    """The open chain-broken alert, if any (None when Redis is unreachable)."""
    try:
        raw = get_redis().get(ALERT_KEY)
    except Exception:  # noqa: BLE001 - the dashboard must render without Redis
        logger.warning("could not read the audit alert")
        return None
    return json.loads(raw) if raw else None
