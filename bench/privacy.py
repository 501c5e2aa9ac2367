"""Erase a contact with 100,000 messages and export one with 100,000 messages (PostgreSQL).

Targets: erasure < 5 s, export < 15 s, peak memory < 200 MB. Each operation runs exactly as
the `privacy` job runs it (services.process on an approved request). Seconds are wall time of
a plain run; memory is reported twice: the process RSS high-water-mark growth during that run
(resource.getrusage) and the Python heap peak of a second run under tracemalloc.

Usage:  .venv/bin/python bench/privacy.py [--url postgresql://postgres@127.0.0.1:5432/omni_privacy]
        [--messages 100000]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import column as sa_column
from sqlalchemy import insert, text
from sqlalchemy import table as sa_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

logger = logging.getLogger(__name__)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/omni_privacy"
DEFAULT_REDIS = "redis://127.0.0.1:6379/4"
ROW_COLUMNS = ("conversation_id", "mid", "direction", "text", "kind", "status", "attempts", "created_at")


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(n: int, psid: str) -> int:
    """One contact with one conversation of n messages (texts encrypted like the app does)."""

    from app import db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.contacts.models import Contact  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.conversations.models import Conversation  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.core.crypto import encrypt  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.core.models import utcnow  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.pages.models import Page  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    page = db.session.query(Page).filter_by(fb_page_id="bench-page").one_or_none()
    if page is None:
        page = Page(fb_page_id="bench-page", name="Bench Page")
        db.session.add(page)
        db.session.commit()
    contact = Contact(page_id=page.id, psid=psid, first_name="Bench", last_name=psid)
    db.session.add(contact)
    db.session.commit()
    conv = Conversation(page_id=page.id, contact_id=contact.id, status="open")
    db.session.add(conv)
    db.session.commit()
    texts = [encrypt(f"bench message {i} =SUM(A{i}) with some realistic length of text") for i in range(200)]
    now = utcnow()
    conn = db.session.connection()
    batch = 10000
    # untyped columns: the ciphertexts are precomputed, so the TypeDecorator is bypassed
    table = sa_table("message", *(sa_column(c) for c in ROW_COLUMNS))
    for start in range(0, n, batch):
        rows = [
            {
                "conversation_id": conv.id,
                "mid": f"m.{psid}.{i}",
                "direction": "in" if i % 2 else "out",
                "text": texts[i % 200],
                "kind": "text",
                "status": "received",
                "attempts": 0,
                "created_at": now,
            }
            for i in range(start, min(n, start + batch))
        ]
        conn.execute(insert(table), rows)
    db.session.commit()
    return contact.id


def run_request(request_type: str, contact_id: int) -> tuple[str, str | None]:
    from app import db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.contacts.models import Contact  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.privacy import processing, requests  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    req = requests.create_request(request_type, db.session.get(Contact, contact_id), requested_by_id=None)
    req.status = "approved"
    db.session.commit()
    done = processing.process(req.id)
    return done.status, done.result or done.error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--only", choices=("export", "erasure"), help="run one operation")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.url
    os.environ["REDIS_URL"] = args.redis
    os.environ.setdefault("OMNICRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="omnicrm-bench-"))
    os.environ.setdefault("RATELIMIT_ENABLED", "false")
    logging.basicConfig(level=logging.WARNING)

    from app import create_app, db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.core.context import Actor, acting_as  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    app = create_app()
    with app.app_context(), acting_as(Actor(None, "bench")):
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        results = {}
        for op, request_type in (("export", "access"), ("erasure", "erasure")):
            if args.only and op != args.only:
                continue
            contact_id = 0
            for mode in ("timed", "tracemalloc"):
                if op == "erasure" or not contact_id:  # an export leaves its contact reusable
                    contact_id = seed(args.messages, f"{op}-{mode}")
                db.session.expire_all()
                rss_before = maxrss_mb()
                if mode == "tracemalloc":
                    tracemalloc.start()
                t0, c0 = time.perf_counter(), time.process_time()
                status, summary = run_request(request_type, contact_id)
                seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                if mode == "tracemalloc":
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                    results[op]["heap_peak_mb"] = peak / 1024 / 1024
                    results[op]["seconds_under_tracemalloc"] = seconds
                else:
                    results[op] = {
                        "status": status,
                        "summary": summary,
                        "seconds": seconds,
                        "cpu": cpu,
                        "rss_growth_mb": maxrss_mb() - rss_before,
                        "rss_peak_mb": maxrss_mb(),
                    }
                db.session.remove()
    targets = {"export": 15.0, "erasure": 5.0}
    print(f"privacy bench: {args.messages:,} messages per contact, PostgreSQL {args.url.rsplit('/', 1)[-1]}")
    print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for op, r in results.items():
        ok = r["seconds"] < targets[op] and r["heap_peak_mb"] < 200 and r["rss_growth_mb"] < 200
        print(
            f"  {op:8} {r['seconds']:6.2f} s wall, {r['cpu']:6.2f} s CPU of this process "
            f"(target < {targets[op]:.0f} s)  "
            f"heap peak {r['heap_peak_mb']:6.1f} MB  RSS growth {r['rss_growth_mb']:6.1f} MB "
            f"(process RSS peak {r['rss_peak_mb']:.0f} MB)  status={r['status']}  "
            f"[{'OK' if ok else 'MISS'}]"
        )
        print(f"           {r['summary']}")


if __name__ == "__main__":
    main()
