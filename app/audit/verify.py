"""Chain verification: links and hashes, the signed head and segment, and signs of a wipe.

A hash chain alone proves nothing once it is gone: whoever can write the tables can delete
every row and the head and be left with a valid empty chain. So an empty or headless chain is
only accepted on a fresh installation: not once an archive segment exists, nor while audited
tables hold rows (each of their inserts wrote an audit row), nor when `AUDIT_ANCHOR_PATH` (a
file outside the database) records a head the database no longer reaches.
"""

from __future__ import annotations

import hmac
import multiprocessing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson
from psycopg.types.json import set_json_loads
from sqlalchemy import Connection, Row, func, literal, select, table

from app import db
from app.audit import anchor, chain
from app.audit.models import AuditHead, AuditLog, AuditSegment
from app.audit.signing import head_signature, segment_signature

if TYPE_CHECKING:
    import psycopg

GENESIS = chain.GENESIS
# Tables whose every insert is audited: rows here while the chain is empty mean it was wiped.
AUDITED_TABLES = ("ab_user", "page", "contact", "message")
_audit_table = AuditLog.__table__
_head_table = AuditHead.__table__
_segment_table = AuditSegment.__table__
_HASHED = chain.COLUMNS[1:-2]


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    broken_id: int | None = None
    reason: str = ""


def _stream(conn: Connection, batch: int) -> Iterator[Any]:
    """Rows as tuples (id, hashed fields..., prev_hash, hash) in id order, never all in memory."""
    t = _audit_table
    cols = [t.c.id, *(t.c[f] for f in _HASHED), t.c.prev_hash, t.c.hash]
    if conn.dialect.name == "postgresql":
        # A server-side cursor on the raw driver: no ORM/Core row overhead, JSONB via orjson.
        names = ", ".join(c.name for c in cols)
        raw = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection)  # the psycopg dialect
        cursor = raw.cursor(name="audit_verify")
        set_json_loads(orjson.loads, cursor)
        cursor.itersize = batch
        try:
            cursor.execute(f"SELECT {names} FROM audit_log ORDER BY id")  # noqa: S608 - fixed column names
            yield from cursor
        finally:
            cursor.close()
        return
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(select(*cols).order_by(t.c.id))
    for row in result:
        yield tuple(row)


def verify_rows(rows: Iterable[Any], start: str = GENESIS) -> VerifyResult:
    """Walk rows in id order; the first one whose links or hash don't match breaks the chain."""
    out = chain.walk(rows, start)
    if not out["ok"]:
        return VerifyResult(False, out["count"], out["broken_id"], out["reason"])
    return VerifyResult(True, out["count"], out.get("last_id"), "")


def verify_parallel(conn: Connection, workers: int, batch: int, start: str = GENESIS) -> VerifyResult:
    """PostgreSQL: walk id slices in worker processes, then check the seams in order."""
    t = _audit_table
    lo, hi = conn.execute(select(func.min(t.c.id), func.max(t.c.id))).one()
    if lo is None:
        return VerifyResult(True, 0, None, "")
    step = (hi - lo) // workers + 1
    bounds = [(lo + i * step, min(lo + (i + 1) * step, hi + 1)) for i in range(workers)]
    dsn = conn.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        parts = pool.starmap(chain.walk_range_pg, [(dsn, a, b, batch) for a, b in bounds])
    prev, count, last_id = start, 0, None
    for part in parts:
        if part["first_id"] is None:
            continue
        if part.get("first_prev", prev) != prev:
            return VerifyResult(False, count, part["first_id"], "prev_hash does not match the previous row")
        if not part["ok"]:
            return VerifyResult(False, count + part["count"], part["broken_id"], part["reason"])
        prev, last_id = part["last_hash"], part["last_id"]
        count += part["count"]
    return VerifyResult(True, count, last_id, "")


def _segment_start(conn: Connection) -> tuple[Row[Any] | None, str, VerifyResult | None]:
    """The latest archive segment, the hash the live chain starts from, or why it can't be trusted."""
    segment = conn.execute(select(_segment_table).order_by(_segment_table.c.id.desc()).limit(1)).first()
    if segment is None:
        return None, GENESIS, None
    expected = segment_signature(
        segment.archived_through_id, segment.archived_rows, segment.start_prev_hash, segment.archive_sha256
    )
    if not hmac.compare_digest(segment.signature or "", expected):
        bad = VerifyResult(False, 0, segment.archived_through_id, "the archive segment's signature is invalid")
        return segment, GENESIS, bad
    return segment, segment.start_prev_hash, None


def _wipe_evidence(conn: Connection, segment: Row[Any] | None) -> str:
    """Why an empty chain without a head can't be a fresh installation ("" if it can)."""
    if segment is not None:
        return (
            f"the audit log and its head are gone although rows through {segment.archived_through_id} "
            "were archived: the audit log was wiped"
        )
    for name in AUDITED_TABLES:
        if conn.execute(select(literal(1)).select_from(table(name)).limit(1)).first() is not None:
            return f"the audit log is empty while {name} holds rows (every insert is audited): the audit log was wiped"
    return ""


def _check_head(conn: Connection, result: VerifyResult, last_id: int | None, segment: Row[Any] | None) -> VerifyResult:
    """The chain's end must be the signed head; no head is only fine for a fresh installation."""
    head = conn.execute(select(_head_table).where(_head_table.c.id == 1)).first()
    if head is None:
        if last_id is not None:
            return VerifyResult(False, result.rows, last_id, "rows exist but the chain head is missing")
        reason = _wipe_evidence(conn, segment)
        return VerifyResult(False, 0, None, reason) if reason else result
    if not hmac.compare_digest(head.signature or "", head_signature(head.last_id, head.last_hash)):
        return VerifyResult(False, result.rows, head.last_id, "the chain head's signature is invalid")
    if last_id is None:
        return VerifyResult(
            False, 0, head.last_id, f"the audit log is empty but its head records row {head.last_id}: it was emptied"
        )
    if last_id < head.last_id:
        return VerifyResult(False, result.rows, head.last_id, "rows at the end of the chain are missing")
    if last_id > head.last_id:
        return VerifyResult(False, result.rows, head.last_id + 1, "rows were appended outside the application")
    last_hash = conn.execute(select(_audit_table.c.hash).where(_audit_table.c.id == last_id)).scalar_one()
    if last_hash != head.last_hash:
        return VerifyResult(False, result.rows, last_id, "the last row does not match the chain head")
    return result


def _check_anchor(
    conn: Connection, result: VerifyResult, last_id: int | None, segment: Row[Any] | None
) -> VerifyResult:
    """With AUDIT_ANCHOR_PATH: the chain must still reach the last head anchored outside the database."""
    anchored = anchor.last_anchor()
    if anchored is None:
        return result
    aid, ahash = anchored
    where = f"AUDIT_ANCHOR_PATH records chain head row {aid}"
    if last_id is None or last_id < aid:
        return VerifyResult(False, result.rows, aid, f"{where} but the chain ends before it: rows were removed")
    if segment is not None and aid <= segment.archived_through_id:
        if aid == segment.archived_through_id and ahash != segment.start_prev_hash:
            return VerifyResult(False, result.rows, aid, f"{where} but the archive segment ends on another hash")
        return result
    stored = conn.execute(select(_audit_table.c.hash).where(_audit_table.c.id == aid)).scalar()
    if stored != ahash:
        why = f"{where} but that row differs or is missing: the chain was rewritten"
        return VerifyResult(False, result.rows, aid, why)
    return result


def verify_chain(conn: Connection | None = None, batch: int = 10_000, workers: int = 1) -> VerifyResult:
    """Verify the whole chain, streamed, then its end against the signed head and the anchor.

    `workers` > 1 on PostgreSQL splits the walk over processes (same result, faster).
    """
    own = conn is None
    conn = conn or db.engine.connect()
    try:
        segment, start, refused = _segment_start(conn)
        if refused is not None:
            return refused
        if workers > 1 and conn.dialect.name == "postgresql":
            result = verify_parallel(conn, workers, batch, start)
        else:
            result = verify_rows(_stream(conn, batch), start)
        if not result.ok:
            if result.rows == 0 and result.reason.startswith("prev_hash"):
                result.reason = "the first row does not link to the chain's start: rows at its start are missing"
            return result
        last_id, result.broken_id = result.broken_id, None
        result = _check_head(conn, result, last_id, segment)
        if not result.ok:
            return result
        return _check_anchor(conn, result, last_id, segment)
    finally:
        if own:
            conn.close()
