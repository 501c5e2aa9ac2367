"""CSV export of the contacts grid at scale: time and peak memory per size (flat memory).

Seeds contacts only (reusing seed_scale.py's COPY loader: 5 pages, deterministic names, 2 %
tagged "vip") into its own database, then for each size exports through the real endpoint
(`GET /contactmodelview/export/` with the Flask test client, as a logged-in Support Manager,
the response consumed chunk by chunk) in a fresh process, and reports rows, MB of CSV, seconds,
rows/s, the process's peak RSS and Python's peak traced allocation during the export.

Usage:  .venv/bin/python bench/csv_export.py [--url URL] [--sizes 100000,300000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import seed_scale  # noqa: E402 - after the path is set

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/omni_csv_bench"
USER = "bench-exporter"
PASSWORD = "bench-exporter-password"


def seed(url: str, n: int) -> None:
    """Exactly `n` contacts (re-seeded when the count differs)."""
    t0 = time.monotonic()
    with psycopg.connect(url) as conn:
        have = conn.execute("SELECT count(*) FROM contact").fetchone()[0]
        if have == n:
            return
        conn.execute("TRUNCATE message, conversation, contact, page RESTART IDENTITY CASCADE")
        conn.execute("SET session_replication_role = replica")
        seed_scale.seed_pages(conn)
        seed_scale.seed_contacts(conn, n, t0)
        conn.commit()
        conn.execute("ANALYZE contact")
        conn.commit()
    seed_scale.log(f"seeded {n:,} contacts", t0)


def measure(url: str, filter_args: str, trace: bool = False) -> dict[str, float]:
    """Run in a child process: one export, its time and memory."""
    import resource  # noqa: PLC0415 - child-process only
    import tracemalloc  # noqa: PLC0415 - child-process only

    os.environ.update(seed_scale.flask_env(url))
    from app import create_app  # noqa: PLC0415 - the app loads after the database is chosen
    from tests.helpers import login  # noqa: PLC0415 - the same login helper the tests use

    app = create_app()
    with app.app_context():
        sm = app.appbuilder.sm
        if sm.find_user(username=USER) is None:
            sm.add_user(USER, "Bench", "Exporter", "bench@example.org", sm.find_role("Support Manager"), PASSWORD)
    client = app.test_client()
    assert login(client, USER, PASSWORD).status_code == 302
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        tracemalloc.start()  # exact Python peak, but it slows the export several times over
    t0 = time.perf_counter()
    resp = client.get(f"/contactmodelview/export/{filter_args}", buffered=False)
    assert resp.status_code == 200, resp.status_code
    size = lines = 0
    for chunk in resp.response:
        size += len(chunk)
        lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    elapsed = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else 0
    tracemalloc.stop()
    return {
        "rows": lines - 1,
        "mb": round(size / 1e6, 1),
        "seconds": round(elapsed, 2),
        "rows_per_s": round((lines - 1) / elapsed) if elapsed else 0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(rss_before, 1),
        "traced_peak_mb": round(traced_peak / 1e6, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_CSV_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--filter", default="", help="query string, e.g. '?_flt_0_tags=vip'")
    parser.add_argument("--trace", action="store_true", help="also trace Python allocations (slow)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.url, args.filter, args.trace)))
        return 0
    seed_scale.ensure_database(args.url)
    seed_scale.migrate_schema(args.url)
    heads = [("contacts", 10), ("rows", 10), ("MB", 7), ("s", 7), ("rows/s", 9)]
    heads += [("peak RSS MB", 12), ("RSS before", 11), ("py peak MB", 11)]
    print(" ".join(f"{name:>{width}}" for name, width in heads))
    for n in (int(s) for s in args.sizes.split(",")):
        seed(args.url, n)
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--url", args.url, "--filter", args.filter]
            + (["--trace"] if args.trace else []),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{n:>10,} {r['rows']:>10,} {r['mb']:>7} {r['seconds']:>7} {r['rows_per_s']:>9,} "
            f"{r['peak_rss_mb']:>12} {r['rss_before_mb']:>11} {r['traced_peak_mb']:>11}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
