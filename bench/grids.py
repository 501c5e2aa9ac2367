"""Time the admin grids, the inbox and the conversation view through the real app (gunicorn).

For every screen the raw SQL that returns the same rows is timed too (psycopg, same
LIMIT/OFFSET), so the table shows what the app adds on top of the database. Targets:
p95 < 200 ms per screen and app <= 3x raw; gunicorn worker RSS < 250 MB after the run.
The app reports its own database time per request (Server-Timing), so the table shows both
the whole page against the raw SQL and the app's database work against it.

Needs a database filled by bench/seed_scale.py. Usage:
    .venv/bin/python bench/grids.py [--url URL] [-n 20] [--workers 2] [--baseline DIR] [--cold]

`--baseline DIR` also starts the app of another checkout (e.g. `git archive` of the commit before
a change) on the same database and times every screen on both, request by request in turn, so
"before" and "after" see the same machine load. `--cold` drops the inbox's cached counts before
every request (a new generation, as any commit that changes a queue does): the worst case.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/omni_scale"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
USERNAME = "bench-manager"
PASSWORD = "Bench-Manager-Passw0rd!"  # benchmark-only account
PAGE_SIZE = 25  # FAB ModelView default

CONTACT_SELECT = "SELECT c.*, p.* FROM contact c LEFT OUTER JOIN page p ON p.id = c.page_id"


def app_env(url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # SERVER_TIMING: each response reports the app's database time (compared with raw SQL)
    env.update(DATABASE_URL=url, REDIS_URL=redis_url, OMNICRM_ENV="development", SERVER_TIMING="true")
    return env


def ensure_user(env: dict[str, str]) -> None:
    """Create the Support Manager through the app's security manager (idempotent)."""
    code = (
        "from app import create_app, appbuilder\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    sm = appbuilder.sm\n"
        f"    if sm.find_user(username={USERNAME!r}) is None:\n"
        "        role = sm.find_role('Support Manager')\n"
        f"        u = sm.add_user({USERNAME!r}, 'Bench', 'Manager', 'bench-manager@example.com', role,"
        f" password={PASSWORD!r})\n"
        "        assert u, 'user not created'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, root: Path = ROOT) -> subprocess.Popen:
    log = "/tmp/bench-gunicorn.log" if root == ROOT else "/tmp/bench-gunicorn-baseline.log"
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "run:app"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
    )
    deadline = time.monotonic() + 240  # a loaded shared machine imports the app slowly
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log}")
        time.sleep(0.2)  # polling a starting server, not synchronising tests
    proc.terminate()
    raise SystemExit("gunicorn did not become healthy in 240 s")


def login(base: str) -> requests.Session:
    s = requests.Session()
    html = s.get(f"{base}/login/", timeout=30).text
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if not m:
        raise SystemExit("no csrf_token on /login/")
    r = s.post(
        f"{base}/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrf_token": m.group(1)},
        timeout=30,
        allow_redirects=False,
    )
    if r.status_code != 302 or s.get(f"{base}/contactmodelview/list/", timeout=60).status_code != 200:
        raise SystemExit(f"login failed ({r.status_code})")
    return s


def timed(fn: Callable[[], Any], n: int, warmup: int = 2, before: Callable[[], Any] | None = None) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def timed_pair(
    fn: Callable[[], Any], other: Callable[[], Any], n: int, before: Callable[[], Any] | None = None
) -> tuple[list[float], list[float]]:
    """Both apps in turn, request by request: the same load on both sides of the comparison."""
    for _ in range(2):
        fn()
        other()
    ours, theirs = [], []
    for _ in range(n):
        theirs += timed(other, 1, warmup=0)
        ours += timed(fn, 1, warmup=0, before=before)
    return ours, theirs


def workers_cpu(pid: int) -> float:
    """CPU seconds used so far by the gunicorn workers: the app's own work, whatever the load."""
    total = 0.0
    for worker in psutil.Process(pid).children():
        t = worker.cpu_times()
        total += t.user + t.system
    return total


def picked(label: str, only: str, exclude: str) -> bool:
    return only in label and not (exclude and exclude in label)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def prepare_queues(url: str) -> int:
    """Give the bench user every tenth conversation (the "Mine" queue); returns their id."""
    with psycopg.connect(url, autocommit=True) as conn:
        user_id = conn.execute("SELECT id FROM ab_user WHERE username = %s", (USERNAME,)).fetchone()[0]
        if not conn.execute("SELECT 1 FROM conversation WHERE assignee_id = %s LIMIT 1", (user_id,)).fetchone():
            conn.execute("UPDATE conversation SET assignee_id = %s WHERE id %% 10 = 3", (user_id,))
            conn.execute("ANALYZE conversation")
    return int(user_id)


def queue_screens(conv_select: str, user_id: int) -> list[tuple[str, str, str, tuple]]:
    """The inbox queues (issue 15): each the raw SQL of its rows, with the app's order."""
    now = datetime.now(UTC).replace(tzinfo=None)
    by_last = "ORDER BY v.last_message_at ASC, v.id ASC LIMIT 100"
    vip = "v.id IN (SELECT conversation_id FROM conversation_label WHERE label = 'vip')"
    return [
        (
            "queue: needs reply",
            "/conversations/?queue=needs_reply",
            f"{conv_select} WHERE v.awaiting_reply AND v.window_expires_at > %s AND v.status <> 'closed' "
            "ORDER BY v.window_expires_at, v.id LIMIT 100",
            (now,),
        ),
        (
            "queue: mine",
            "/conversations/?queue=mine",
            f"{conv_select} WHERE v.assignee_id = %s AND v.status = 'open' {by_last}",
            (user_id,),
        ),
        (
            "queue: unassigned",
            "/conversations/?queue=unassigned",
            f"{conv_select} WHERE v.assignee_id IS NULL AND v.status = 'open' {by_last}",
            (),
        ),
        (
            "queue: window closed",
            "/conversations/?queue=window_closed",
            f"{conv_select} WHERE v.status = 'open' AND v.window_expires_at <= %s "
            "ORDER BY v.window_expires_at DESC, v.id DESC LIMIT 100",
            (now,),
        ),
        (
            "queue: needs reply, label vip",
            "/conversations/?queue=needs_reply&label=vip",
            f"{conv_select} WHERE v.awaiting_reply AND v.window_expires_at > %s AND v.status <> 'closed' "
            f"AND {vip} ORDER BY v.window_expires_at, v.id LIMIT 100",
            (now,),
        ),
        (
            "queue: unassigned, label vip",
            "/conversations/?queue=unassigned&label=vip",
            f"{conv_select} WHERE v.assignee_id IS NULL AND v.status = 'open' AND {vip} {by_last}",
            (),
        ),
        (
            "queue: live poll (JSON)",
            "/conversations/live?queue=needs_reply",
            f"{conv_select} WHERE v.awaiting_reply AND v.window_expires_at > %s AND v.status <> 'closed' "
            "ORDER BY v.window_expires_at, v.id LIMIT 100",
            (now,),
        ),
    ]


def screens(big_id: int, page_id: int) -> list[tuple[str, str, str, tuple]]:
    """(label, app path, raw SQL, params): the raw SQL returns the rows the screen shows."""
    order = "ORDER BY c.last_inbound_at DESC, c.id DESC"
    conv_select = (
        "SELECT v.*, c.*, cp.*, p.*, u.* FROM conversation v JOIN contact c ON c.id = v.contact_id "
        "LEFT JOIN page cp ON cp.id = c.page_id JOIN page p ON p.id = v.page_id "
        "LEFT JOIN ab_user u ON u.id = v.assignee_id"
    )
    return [
        ("contacts: first page", "/contactmodelview/list/", f"{CONTACT_SELECT} {order} LIMIT 25", ()),
        (
            "contacts: page 500",
            "/contactmodelview/list/?page_ContactModelView=499",
            # the best plain SQL for a deep page: keys from the index, then 25 rows
            f"{CONTACT_SELECT} WHERE c.id IN (SELECT id FROM contact ORDER BY last_inbound_at DESC, id DESC "
            f"LIMIT 25 OFFSET {499 * PAGE_SIZE}) {order}",
            (),
        ),
        (
            "contacts: name contains 'Ana'",
            "/contactmodelview/list/?_flt_2_first_name=Ana",
            f"{CONTACT_SELECT} WHERE c.first_name ILIKE %s {order} LIMIT 25",
            ("%Ana%",),
        ),
        (
            "contacts: page + opted out",
            f"/contactmodelview/list/?_flt_0_page={page_id}&_flt_0_marketing_opt_out=y",
            f"{CONTACT_SELECT} WHERE c.page_id = %s AND c.marketing_opt_out {order} LIMIT 25",
            (page_id,),
        ),
        (
            "contacts: sort last contact asc",
            "/contactmodelview/list/?_oc_ContactModelView=last_inbound_at&_od_ContactModelView=asc",
            f"{CONTACT_SELECT} ORDER BY c.last_inbound_at ASC, c.id ASC LIMIT 25",
            (),
        ),
        (
            "inbox, all open (/conversations/?queue=all)",
            "/conversations/?queue=all",
            f"{conv_select} WHERE v.status = 'open' "
            "ORDER BY v.assignee_id IS NOT NULL, v.last_message_at ASC, v.id LIMIT 100",
            (),
        ),
        (
            "conversation 10k msgs",
            f"/conversations/{big_id}",
            "SELECT m.*, u.* FROM message m LEFT JOIN ab_user u ON u.id = m.author_id "
            "WHERE m.conversation_id = %s ORDER BY m.created_at DESC, m.id DESC LIMIT 51",
            (big_id,),
        ),
        (
            "conversations grid",
            "/conversationmodelview/list/",
            f"{conv_select} ORDER BY v.last_message_at DESC, v.id DESC LIMIT 25",
            (),
        ),
        (
            "messages grid",
            "/messagemodelview/list/",
            "SELECT m.*, u.* FROM message m LEFT JOIN ab_user u ON u.id = m.author_id "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT 25",
            (),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help="only screens whose label contains this (e.g. 'queue')")
    parser.add_argument("--exclude", default="", help="leave out screens whose label contains this (e.g. 'label')")
    parser.add_argument("--baseline", type=Path, help="another checkout to time side by side (the 'before')")
    parser.add_argument("--cold", action="store_true", help="drop the inbox's cached counts before each request")
    args = parser.parse_args()

    env = app_env(args.url, args.redis)
    with psycopg.connect(args.url, autocommit=True) as conn:
        row = conn.execute("SELECT info FROM bench_seed_state WHERE stage = 'big'").fetchone()
        scale = conn.execute("SELECT info FROM bench_seed_state WHERE stage = 'scale'").fetchone()
        if not row:
            raise SystemExit("run bench/seed_scale.py first")
        big_id = int(row[0])
        page_id = conn.execute("SELECT min(id) + 1 FROM page").fetchone()[0]
        sizes = {
            t: conn.execute(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{t}'").fetchone()[0]
            for t in ("contact", "conversation", "message")
        }
    print(f"data: scale {scale[0] if scale else '?'}, {sizes} (planner row counts)")
    ensure_user(env)
    user_id = prepare_queues(args.url)
    conv_select = (
        "SELECT v.*, c.*, cp.*, p.*, u.* FROM conversation v JOIN contact c ON c.id = v.contact_id "
        "LEFT JOIN page cp ON cp.id = c.page_id JOIN page p ON p.id = v.page_id "
        "LEFT JOIN ab_user u ON u.id = v.assignee_id"
    )
    every = screens(big_id, page_id) + queue_screens(conv_select, user_id)
    chosen = [s for s in every if picked(s[0], args.only, args.exclude)]
    port = free_port()
    server = start_gunicorn(env, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    baseline = baseline_base = None
    if args.baseline:
        baseline_port = free_port()
        baseline = start_gunicorn(env, baseline_port, args.workers, root=args.baseline.resolve())
        baseline_base = f"http://127.0.0.1:{baseline_port}"
    drop_counts = cold_counts(args.redis) if args.cold else None
    results = []
    try:
        session = login(base)
        baseline_session = login(baseline_base) if baseline_base else None
        with psycopg.connect(args.url, autocommit=True) as conn:
            for label, path, sql, params in chosen:
                db_ms: list[tuple[float, int]] = []
                baseline_db_ms: list[tuple[float, int]] = []

                def get(path: str = path, db_ms: list = db_ms, s: Any = session, b: str = base) -> None:
                    r = s.get(b + path, timeout=60, allow_redirects=False)
                    if r.status_code != 200:
                        raise SystemExit(f"{path}: HTTP {r.status_code}")
                    timing = re.match(r'db;dur=([\d.]+);desc="(\d+) queries"', r.headers.get("Server-Timing", ""))
                    if timing:
                        db_ms.append((float(timing[1]), int(timing[2])))

                def raw(sql: str = sql, params: tuple = params) -> None:
                    conn.execute(sql, params).fetchall()

                cpu_before = workers_cpu(server.pid)
                before: dict[str, Any] | None = None
                if baseline_session is not None and baseline_base is not None:

                    def get_baseline(path: str = path, db_ms: list = baseline_db_ms) -> None:
                        get(path, db_ms, baseline_session, baseline_base)

                    app_ms, baseline_ms = timed_pair(get, get_baseline, args.n, before=drop_counts)
                    before = {"app": baseline_ms, "db": [d for d, _q in baseline_db_ms[-args.n :]] or [float("nan")]}
                    before["queries"] = int(statistics.median(q for _d, q in baseline_db_ms[-args.n :]) or 0)
                else:
                    app_ms = timed(get, args.n, before=drop_counts)
                cpu_ms = (workers_cpu(server.pid) - cpu_before) * 1000 / (args.n + 2)
                raw_ms = timed(raw, args.n)
                timed_db = db_ms[-args.n :]  # the warm-up requests are not counted
                db = [d for d, _q in timed_db] or [float("nan")]
                queries = int(statistics.median(q for _d, q in timed_db)) if timed_db else 0
                results.append((label, app_ms, raw_ms, cpu_ms, db, queries, before))
                print(f"  measured {label}", file=sys.stderr, flush=True)
        workers = psutil.Process(server.pid).children()
        rss = [w.memory_info().rss / 2**20 for w in workers]
    finally:
        for proc in (server, baseline):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)

    head = (
        f"{'screen':34} {'app p50':>8} {'app p95':>8} {'app CPU':>8} {'db p95':>7} {'qry':>4} {'raw p50':>8}"
        f" {'raw p95':>8} {'page/raw':>8} {'db/raw':>7}  met"
    )
    print(f"\nN={args.n} per screen after warm-up; times in ms; {args.workers} gunicorn workers")
    print(head)
    print("-" * len(head))
    for label, app_ms, raw_ms, cpu_ms, db, queries, _before in results:
        a50, a95 = statistics.median(app_ms), p95(app_ms)
        r50, r95 = statistics.median(raw_ms), p95(raw_ms)
        d95 = p95(db) if len(db) > 1 else db[0]
        ratio = a95 / r95 if r95 else float("inf")
        db_ratio = d95 / r95 if r95 else float("inf")
        ok = "both" if a95 < 200 and db_ratio <= 3 else ("p95" if a95 < 200 else "no")
        print(
            f"{label:34} {a50:8.1f} {a95:8.1f} {cpu_ms:8.1f} {d95:7.2f} {queries:4d} {r50:8.2f} {r95:8.2f}"
            f" {ratio:8.1f} {db_ratio:7.1f}  {ok}"
        )
    print(
        "db = the app's own database time per request (Server-Timing), all its queries (session, permissions,\n"
        "count, rows); page/raw compares the whole rendered page with the raw SQL, db/raw the database work"
    )
    print("app CPU = gunicorn worker CPU ms per request (independent of other load on the machine)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("queues (issue 15) target: db p95 < 25 ms at 1 M conversations")
    print(f"\ngunicorn worker RSS after the run (MB): {', '.join(f'{r:.0f}' for r in rss)} (target < 250)")
    if args.baseline:
        print_side_by_side(results, args.baseline, args.cold)
    return 0


def cold_counts(redis_url: str) -> Callable[[], Any]:
    """A new generation of the inbox's cached counts (app.conversations.queue_counts.GEN_KEY)."""
    import redis  # noqa: PLC0415 - only with --cold

    conn = redis.Redis.from_url(redis_url)
    return lambda: conn.incr("inbox:counts:gen")


def print_side_by_side(results: list[tuple], baseline: Path, cold: bool) -> None:
    """Before (the --baseline checkout) and after (this one), measured in turn in this run."""
    note = " (cached counts dropped before each request)" if cold else ""
    print(f"\nside by side, same run: before = {baseline}, after = {ROOT}{note}")
    head = f"{'screen':34} {'before p95':>10} {'after p95':>10} {'before db p95':>14} {'after db p95':>13} {'qry':>8}"
    print(head)
    print("-" * len(head))
    for label, app_ms, _raw, _cpu, db, queries, before in results:
        if before is None:
            continue
        b_db = p95(before["db"]) if len(before["db"]) > 1 else before["db"][0]
        a_db = p95(db) if len(db) > 1 else db[0]
        print(
            f"{label:34} {p95(before['app']):10.1f} {p95(app_ms):10.1f} {b_db:14.2f} {a_db:13.2f}"
            f" {before['queries']:>3d} → {queries:<3d}"
        )


if __name__ == "__main__":
    sys.exit(main())
