"""`AUDIT_ANCHOR_PATH`: every committed chain head is appended to a file outside the database.

The database alone can be rolled back or wiped by whoever can write it; a line per head in
a file it cannot reach lets `audit verify` tell that the chain no longer reaches a head it
once had. A head is staged on the connection when written and appended only when its
transaction commits (dropped on rollback), so the file never names a head that was not
committed by the application. Losing the last lines (a crash) only makes the anchor older.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import orjson
from flask import current_app, has_app_context
from sqlalchemy import Connection, Engine, event

from app.core.models import utcnow

logger = logging.getLogger(__name__)

_PENDING = "omnicrm_audit_anchor"
_TAIL_BYTES = 4096


def anchor_path() -> Path | None:
    """The configured anchor file, or None (not set, or no app context)."""
    if not has_app_context():
        return None
    raw = current_app.config.get("AUDIT_ANCHOR_PATH") or ""
    return Path(raw) if raw else None


def stage(conn: Connection, last_id: int, last_hash: str) -> None:
    """Remember a new head on this connection; it is written when the transaction commits."""
    path = anchor_path()
    if path is not None:
        conn.info[_PENDING] = (str(path), last_id, last_hash)


def append(path: str | Path, last_id: int, last_hash: str) -> None:
    """One JSON line per head; O_APPEND keeps lines from several processes whole."""
    line = orjson.dumps({"id": last_id, "hash": last_hash, "at": utcnow().isoformat(timespec="seconds")}) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def last_anchor(path: Path | None = None) -> tuple[int, str] | None:
    """The last head in the anchor file (None: not configured, or nothing anchored yet)."""
    path = path or anchor_path()
    if path is None or not path.exists():
        return None
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - _TAIL_BYTES))
        lines = fh.read().splitlines()
    for raw in reversed(lines):
        try:
            data = orjson.loads(raw)
            return int(data["id"]), str(data["hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn first line of the tail window, or a partial write
    return None


def _pop(conn: Connection) -> Any:
    try:
        return conn.info.pop(_PENDING, None)
    except Exception:  # noqa: BLE001 - an invalidated connection has nothing staged worth keeping
        return None


@event.listens_for(Engine, "commit")
def _on_commit(conn: Connection) -> None:
    pending = _pop(conn)
    if pending is None:
        return
    try:
        append(*pending)
    except OSError:
        # The commit must not fail for the anchor: verify reports the anchor as stale, not broken.
        logger.exception("could not append the audit chain head to AUDIT_ANCHOR_PATH")


@event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection) -> None:
    _pop(conn)


@event.listens_for(Engine, "rollback_savepoint")
def _on_rollback_savepoint(conn: Connection, name: str, context: Any) -> None:
    _pop(conn)  # the head may have been written inside it; an older anchor is harmless
