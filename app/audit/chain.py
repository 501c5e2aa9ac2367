"""The chain walk, free of app imports so verifier worker processes start fast."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

logger = logging.getLogger(__name__)

GENESIS = "0" * 64  # what the first row of a chain links to
SORT = orjson.OPT_SORT_KEYS
COLUMNS = (
    "id",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "entity_type",
    "entity_id",
    "changes",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
    "hash",
)


def ts(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return str(value)


def walk(rows: Iterable[Any], prev: str | None) -> dict[str, Any]:
    """Check links and hashes of rows in id order.

    `prev` is the hash the first row must link to; None accepts the first row's prev_hash
    (a slice of the chain checked in parallel; the caller checks the seams).
    """
    out: dict[str, Any] = {"ok": True, "count": 0, "broken_id": None, "reason": "", "first_id": None}
    sha256 = hashlib.sha256
    dumps = orjson.dumps
    count = 0
    last_id = None
    for rid, created_at, *fields, prev_hash, digest in rows:
        if prev is None:
            prev = prev_hash
            out["first_prev"] = prev_hash
        if out["first_id"] is None:
            out["first_id"] = rid
        if prev_hash != prev:
            out.update(ok=False, count=count, broken_id=rid, reason="prev_hash does not match the previous row")
            return out
        if sha256(prev.encode() + dumps([ts(created_at), *fields], option=SORT)).hexdigest() != digest:
            out.update(ok=False, count=count, broken_id=rid, reason="hash does not match the row's content")
            return out
        prev = digest
        last_id = rid
        count += 1
    out.update(count=count, last_id=last_id, last_hash=prev)
    return out


def walk_range_pg(dsn: str, lo: int, hi: int, batch: int) -> dict[str, Any]:
    """Worker process: walk ids [lo, hi) on its own PostgreSQL connection (server-side cursor)."""
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor(name="audit_verify_part")
        set_json_loads(orjson.loads, cur)
        cur.itersize = batch
        cur.execute(
            f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE id >= %s AND id < %s ORDER BY id",  # noqa: S608 - fixed names
            (lo, hi),
        )
        return walk(cur, None)
