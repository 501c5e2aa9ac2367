"""Cost of auditing, on PostgreSQL.

1. Insert 10,000 contacts through the ORM with the audit listener off and on (commits of
   500), print both times and the overhead ratio (target <= 30 %).
2. Build a 1,000,000-row chain with real hashes (COPY) and time the streamed verifier
   (target < 30 s).

Usage (uses and wipes the given database's contact/audit tables):
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/omni_audit REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/audit.py [--contacts 10000] [--chain 1000000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

logger = logging.getLogger(__name__)

BATCH = 500


def _clean(db, text) -> None:
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE contact, audit_log, audit_head RESTART IDENTITY CASCADE"))


def insert_contacts(n: int, page_id: int, audited: bool) -> float:
    """Seconds to insert n contacts (ORM, commit every BATCH) with or without the listener."""

    from app import db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.audit import listeners  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.contacts.models import Contact  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.core.context import Actor, acting_as  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    ctx = nullcontext() if audited else listeners.disabled()
    started = time.perf_counter()
    with ctx, acting_as(Actor(1, "bench", "127.0.0.1", "bench")):
        for start in range(0, n, BATCH):
            db.session.add_all(
                Contact(
                    page_id=page_id,
                    psid=f"{start + i:012d}",
                    first_name="Bench",
                    last_name=f"Person{start + i}",
                    locale="en_GB",
                    tags="bench",
                    notes="a private note",
                )
                for i in range(min(BATCH, n - start))
            )
            db.session.commit()
    return time.perf_counter() - started


def build_chain(rows: int) -> float:
    """COPY `rows` chained audit rows (real hashes) into audit_log; returns seconds."""
    from app import db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.audit import service  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.core.models import utcnow  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    started = time.perf_counter()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cols = (*service.HASHED_FIELDS, "prev_hash", "hash")
        prev = service.GENESIS
        base = utcnow() - timedelta(days=30)
        with cur.copy(f"COPY audit_log ({', '.join(cols)}) FROM STDIN") as copy:
            for i in range(rows):
                row = {
                    "created_at": base + timedelta(microseconds=i * 1000),
                    "actor_id": i % 7 or None,
                    "actor_name": f"user{i % 7}" if i % 7 else "worker",
                    "action": ("insert", "update", "delete", "login", "reply_sent")[i % 5],
                    "entity_type": "contact",
                    "entity_id": str(i),
                    "changes": {"tags": {"old": "a", "new": "b"}, "notes": "[redacted]", "n": i},
                    "ip": "10.0.0.1",
                    "user_agent": "Mozilla/5.0 bench",
                    "request_id": f"{i:032x}",
                }
                h = service.row_hash(prev, row)
                values = [row[c] for c in service.HASHED_FIELDS]
                values[service.HASHED_FIELDS.index("changes")] = json.dumps(row["changes"])
                copy.write_row([*values, prev, h])
                prev = h
        raw.commit()
    finally:
        raw.close()
    with db.engine.begin() as conn:
        t = service.AuditLog.__table__
        last_id = conn.execute(select(t.c.id).where(t.c.hash == prev)).scalar_one()
        service._write_head(conn, last_id, prev)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="best of N for the insert timings")
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL database (e.g. .../omni_audit).", file=sys.stderr)
        return 2
    os.environ.setdefault("OMNICRM_ENV", "development")
    logging.basicConfig(level=logging.WARNING)

    from app import create_app, db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.audit import listeners  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.audit.verify import verify_chain  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.pages.models import Page  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    app = create_app()
    with app.app_context():
        upgrade()
        plain, audited = [], []
        for _ in range(args.rounds):
            for flag, sink in ((False, plain), (True, audited)):
                _clean(db, text)
                with listeners.disabled():
                    page = db.session.scalar(db.select(Page).where(Page.fb_page_id == "999000999"))
                    if page is None:
                        page = Page(fb_page_id="999000999", name="Bench page")
                        db.session.add(page)
                        db.session.commit()
                    page_id = page.id
                sink.append(insert_contacts(args.contacts, page_id, flag))
        rows = db.session.scalar(text("SELECT count(*) FROM audit_log"))
        ok = verify_chain().ok
        best_plain, best_audited = min(plain), min(audited)
        print(f"insert {args.contacts} contacts without audit: {best_plain:.2f}s (runs: {fmt(plain)})")
        print(f"insert {args.contacts} contacts with audit:    {best_audited:.2f}s (runs: {fmt(audited)})")
        print(
            f"audit overhead: {100 * (best_audited / best_plain - 1):.1f}% "
            f"(ratio {best_audited / best_plain:.2f}; {rows} audit rows, chain ok={ok})"
        )

        _clean(db, text)
        build = build_chain(args.chain)
        print(f"built a chain of {args.chain} rows with COPY in {build:.1f}s")
        for workers in sorted({1, max(2, os.cpu_count() or 1)}):
            started = time.perf_counter()
            result = verify_chain(workers=workers)
            elapsed = time.perf_counter() - started
            print(f"verify {result.rows} rows (streamed, {workers} process(es)): {elapsed:.1f}s ok={result.ok}")
        _clean(db, text)
    return 0


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
