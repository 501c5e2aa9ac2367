"""Side by side, in one run: the first search design (posting lists of (token, message_id),
`message` read for every match) against the current one (posting lists carry the conversation),
on the same 10 M-message database and the same word pairs, alternating query by query.

    .venv/bin/python bench/search_ab.py [--database-url URL] [--queries 60]

Needs a database seeded by bench/search.py (10 M messages) plus the old layout beside it:
`bench_token_old(token, message_id)` with primary key (token, message_id), e.g.
CREATE UNLOGGED TABLE bench_token_old AS SELECT token, message_id FROM message_search_token;
ALTER TABLE bench_token_old ADD PRIMARY KEY (token, message_id); VACUUM ANALYZE bench_token_old.
Both statements count the matching conversations and return the newest 20, as do_search does;
the current design is timed with parallel workers allowed (PostgreSQL's default, 2) and without
(what do_search now sets).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OLD = """SELECT conversation_id, message_id, count(*) OVER () FROM (
  SELECT m.conversation_id, max(m.id) AS message_id FROM bench_token_old t0
  JOIN message m ON m.id = t0.message_id
  JOIN bench_token_old t1 ON t1.message_id = t0.message_id AND t1.token = :b {conv}
  WHERE t0.token = :a {where} GROUP BY m.conversation_id) x ORDER BY message_id DESC LIMIT 20"""
NEW = """SELECT conversation_id, message_id, count(*) OVER () FROM (
  SELECT t0.conversation_id, max(t0.message_id) AS message_id FROM message_search_token t0
  JOIN message_search_token t1 ON t1.message_id = t0.message_id AND t1.token = :b {conv} {msg}
  WHERE t0.token = :a {where} GROUP BY t0.conversation_id) x ORDER BY message_id DESC LIMIT 20"""
FILTERS = {
    "none": ("", "", ""),
    "page_id": ("JOIN conversation c ON c.id = {cid}", "", " AND c.page_id = 1"),
    "one month": (
        "",
        "JOIN message m ON m.id = t0.message_id",
        " AND m.created_at >= '2025-06-01' AND m.created_at < '2025-07-01'",
    ),
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/omni_search10m")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    os.environ.update(DATABASE_URL=args.database_url, OMNICRM_ENV="development", REDIS_URL="redis://127.0.0.1:6379/8")
    from sqlalchemy import text  # noqa: PLC0415 - bench

    from app import create_app, db  # noqa: PLC0415 - bench
    from app.search.services import _token, current_key  # noqa: PLC0415 - bench
    from bench.search import query_sets  # noqa: PLC0415 - bench

    app = create_app()
    with app.app_context():
        key = current_key()
        engine = db.engine
    sets = query_sets(200_000, args.queries)
    with engine.connect() as conn:
        for kind in ("common+common", "common+rare"):
            for name, (conv, msg, where) in FILTERS.items():
                if kind == "common+rare" and name != "none":
                    continue
                times: dict[str, list[float]] = {"old": [], "new": [], "serial": []}
                for a, b in sets[kind]:
                    params = {"a": _token(key, a), "b": _token(key, b)}
                    old = OLD.format(conv=conv.format(cid="m.conversation_id"), where=where)
                    new = NEW.format(conv=conv.format(cid="t0.conversation_id"), msg=msg, where=where)
                    for label, sql in (("old", old), ("new", new), ("serial", new)):
                        serial = label == "serial"
                        conn.execute(text(f"SET max_parallel_workers_per_gather = {0 if serial else 2}"))
                        start = time.perf_counter()
                        conn.execute(text(sql), params).all()
                        times[label].append((time.perf_counter() - start) * 1000)
                print(
                    f"{kind:14} filter {name:9}: first design p50 {statistics.median(times['old']):6.1f} ms "
                    f"p95 {pct(times['old'], 95):6.1f} ms | current p50 {statistics.median(times['new']):6.1f} ms "
                    f"p95 {pct(times['new'], 95):6.1f} ms | serial p50 {statistics.median(times['serial']):6.1f} "
                    f"ms p95 {pct(times['serial'], 95):6.1f} ms ({len(times['new'])} queries each, alternating)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
