"""Archive old audit rows: write them to a file, remove them, and start a new chain segment.

The archive is the explicit, audited way audit rows ever leave the table. The file holds the
rows exactly as stored (JSON lines), so it can be verified on its own from the genesis hash
(or the previous segment's start); a signed `audit_segment` row records where the live chain
now starts, its row count and the file's SHA-256, and the archive itself is an audit event.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, text

from app import db
from app.audit import chain
from app.audit.service import GENESIS, _audit_table, _segment_table, lock_chain, record
from app.audit.signing import segment_signature
from app.audit.verify import verify_chain
from app.core.models import utcnow

logger = logging.getLogger(__name__)


class ArchiveError(RuntimeError):
    """The archive was refused; nothing was removed."""


@dataclass
class ArchiveResult:
    rows: int
    through_id: int | None = None
    path: Path | None = None
    sha256: str | None = None


def archive_before(cutoff: datetime, out_dir: Path) -> ArchiveResult:
    """Move every row up to the last one created before `cutoff` into a file, in one transaction."""
    checked = verify_chain()
    if not checked.ok:
        raise ArchiveError(f"the audit chain is broken at row {checked.broken_id} ({checked.reason}): not archiving")
    t = _audit_table
    conn = db.session.connection()
    lock_chain(conn)
    through = conn.execute(select(func.max(t.c.id)).where(t.c.created_at < cutoff)).scalar()
    if through is None:
        db.session.rollback()
        return ArchiveResult(0)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"audit-archive-through-{through}-{utcnow():%Y%m%dT%H%M%S}.jsonl"
    digest, count, last_hash = hashlib.sha256(), 0, None
    columns = [t.c[c] for c in chain.COLUMNS]
    rows = conn.execute(
        select(*columns).where(t.c.id <= through).order_by(t.c.id),
        execution_options={"stream_results": True, "yield_per": 5000},  # this statement only
    )
    with open(path, "wb") as fh:
        for row in rows:
            data = dict(zip(chain.COLUMNS, row, strict=True))
            data["created_at"] = chain.ts(data["created_at"])
            line = orjson.dumps(data, option=chain.SORT) + b"\n"
            fh.write(line)
            digest.update(line)
            count += 1
            last_hash = data["hash"]
    sha = digest.hexdigest()
    assert last_hash is not None  # `through` exists, so at least one row was written
    conn.execute(
        insert(_segment_table).values(
            created_at=utcnow(),
            archived_through_id=through,
            archived_rows=count,
            start_prev_hash=last_hash,
            archive_sha256=sha,
            signature=segment_signature(through, count, last_hash, sha),
        )
    )
    _delete_archived(conn, through)
    record("audit_archived", "audit_log", through, {"rows": count, "archive_sha256": sha, "file": path.name})
    db.session.commit()
    logger.info("archived %s audit rows through id %s to %s", count, through, path.name)
    return ArchiveResult(count, through, path, sha)


def _delete_archived(conn: Connection, through: int) -> None:
    """Remove the archived rows. PostgreSQL: only through the SECURITY DEFINER function (migration
    0005), which checks them against the segment just recorded; no session setting opens the guard."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT audit_archive_delete(:through)"), {"through": through})
    else:
        conn.execute(delete(_audit_table).where(_audit_table.c.id <= through))


def verify_archive_file(path: Path, start: str = GENESIS) -> bool:
    """An archive file is a chain slice of its own: check it links and hashes from `start`."""

    def rows() -> Iterator[tuple[Any, ...]]:
        with open(path, "rb") as fh:
            for line in fh:
                d = orjson.loads(line)
                yield (d["id"], datetime.fromisoformat(d["created_at"]),
                       *(d[f] for f in chain.COLUMNS[2:-2]), d["prev_hash"], d["hash"])  # fmt: skip

    return bool(chain.walk(rows(), start)["ok"])
