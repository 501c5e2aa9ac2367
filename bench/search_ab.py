"""Side by side, in one run: the previous search layout (posting lists `(token, message_id,
conversation_id)`, `message` joined for every match to test a date range; migration 0018)
against the current one (the message's time rides in the key, migration 0019), on the same
10 M-message database and the same word pairs, alternating query by query.

    .venv/bin/python bench/search_ab.py [--database-url URL] [--queries 60]

Needs a database seeded by bench/search.py (10 M messages) plus the previous layout beside it
(`--prepare` builds it, ~15 min at 10 M: an UNLOGGED copy without the time, its primary key,
VACUUM ANALYZE). Both statements count the matching conversations and return the newest 20 as
`do_search` does, serially (`max_parallel_workers_per_gather = 0`, as `do_search` sets it).
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

OLD_TABLE = "bench_token_0018"
PREPARE = (
    f"DROP TABLE IF EXISTS {OLD_TABLE}",
    f"CREATE UNLOGGED TABLE {OLD_TABLE} AS SELECT token, message_id, conversation_id FROM message_search_token",
    f"ALTER TABLE {OLD_TABLE} ADD PRIMARY KEY (token, message_id, conversation_id)",
)
PAGE = """SELECT conversation_id, message_id, count(*) OVER () FROM (
  SELECT t0.conversation_id, max(t0.message_id) AS message_id FROM {table} t0
  JOIN {table} t1 ON t1.message_id = t0.message_id AND t1.token = :b {join}
  WHERE t0.token = :a {where} GROUP BY t0.conversation_id) x ORDER BY message_id DESC LIMIT 20"""
MONTH = "'2025-06-01' AND {c} < '2025-07-01'"
QUARTER = "'2025-04-01' AND {c} < '2025-07-01'"
#: (name, previous layout's join and condition, current layout's condition)
FILTERS = {
    "none": ("", "", ""),
    "one month": (
        "JOIN message m ON m.id = t0.message_id",
        " AND m.created_at >= " + MONTH.format(c="m.created_at"),
        " AND t0.created_at >= "
        + MONTH.format(c="t0.created_at")
        + " AND t1.created_at >= "
        + MONTH.format(c="t1.created_at"),
    ),
    "one quarter": (
        "JOIN message m ON m.id = t0.message_id",
        " AND m.created_at >= " + QUARTER.format(c="m.created_at"),
        " AND t0.created_at >= "
        + QUARTER.format(c="t0.created_at")
        + " AND t1.created_at >= "
        + QUARTER.format(c="t1.created_at"),
    ),
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def prepare(engine, text) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for stmt in PREPARE:
            start = time.perf_counter()
            conn.execute(text(stmt))
            print(f"  {stmt[:70]}... {time.perf_counter() - start:.0f} s", flush=True)
        conn.execute(text(f"VACUUM ANALYZE {OLD_TABLE}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/omni_search10m")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--prepare", action="store_true", help=f"(re)build {OLD_TABLE} first")
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
    if args.prepare:
        prepare(engine, text)
    sets = query_sets(200_000, args.queries)
    with engine.connect() as conn:
        conn.execute(text("SET max_parallel_workers_per_gather = 0"))
        for kind in ("common+common", "common+rare"):
            for name, (join, old_where, new_where) in FILTERS.items():
                times: dict[str, list[float]] = {"old": [], "new": []}
                for a, b in sets[kind]:
                    params = {"a": _token(key, a), "b": _token(key, b)}
                    old = PAGE.format(table=OLD_TABLE, join=join, where=old_where)
                    new = PAGE.format(table="message_search_token", join="", where=new_where)
                    for label, sql in (("old", old), ("new", new)):
                        start = time.perf_counter()
                        conn.execute(text(sql), params).all()
                        times[label].append((time.perf_counter() - start) * 1000)
                old_ms, new_ms = times["old"], times["new"]
                print(
                    f"{kind:14} filter {name:11}: previous layout p50 {statistics.median(old_ms):6.1f} ms "
                    f"p95 {pct(old_ms, 95):6.1f} ms | current p50 {statistics.median(new_ms):6.1f} ms "
                    f"p95 {pct(new_ms, 95):6.1f} ms ({len(new_ms)} queries each, alternating)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
