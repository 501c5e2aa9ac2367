"""Webhook ingestion and processing throughput, against a minimal durable-ack reference.

    .venv/bin/python bench/webhook.py -n 5000 -c 32

Uses PostgreSQL `omni_webhooks` and Redis db 1 (override with --database-url / --redis-url;
the schema is dropped and rebuilt). On the same gunicorn settings it runs, one after the other:
  1. the reference endpoint defined below (plain Flask: signature check + one INSERT of the raw
     body with psycopg + commit, nothing else: the limit of a durable acknowledgement here);
  2. the real app (`run:app`) at POST /webhooks/messenger.
C client threads post N signed events each way over keep-alive connections (http.client) and
record every latency; both servers run side by side and the timed requests alternate between
them in rounds, so load changes on a shared machine affect both alike. Then one
`python worker.py --burst --queues webhooks --no-cron` drains the queue; processing time is
measured from the first to the last event processed (read from
the database, so process start-up is not counted). Finally every event is checked: stored once,
processed, exactly one message per mid (nothing lost, nothing duplicated).
Targets (2 cores): webhook ≥ 75 % of the reference, p99 < 50 ms at C=32, ≥ 500 events/s/worker.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_SECRET = "bench-app-secret"
PAGE_ID = "1000000009"
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/omni_webhooks"
DEFAULT_REDIS = "redis://127.0.0.1:6379/1"


# --------------------------------------------------------------------------- reference endpoint


def reference_app():
    """Plain Flask + psycopg: verify X-Hub-Signature-256, INSERT the raw body, commit, 200."""
    import psycopg
    from flask import Flask, request

    app = Flask("reference")
    secret = os.environ.get("FB_APP_SECRET", APP_SECRET).encode()
    dsn = os.environ.get("REFERENCE_DSN", DEFAULT_DB)
    local = threading.local()

    def conn():
        c = getattr(local, "conn", None)
        if c is None or c.closed:
            c = local.conn = psycopg.connect(dsn)
        return c

    @app.post("/webhooks/messenger")
    def receive():
        body = request.get_data()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return "forbidden", 403
        c = conn()
        c.execute("INSERT INTO bench_reference_event (body) VALUES (%s)", (body.decode(),))
        c.commit()
        return "EVENT_RECEIVED", 200

    return app


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # waiting for a child process to bind: nothing to wait on instead
    raise SystemExit("server did not start")


def make_bodies(n: int, psids: int) -> list[tuple[bytes, str]]:
    """N distinct Meta-shaped text-message events spread over `psids` people, pre-signed."""
    base = int(time.time() * 1000)
    out = []
    for i in range(n):
        psid = str(8_000_000_000 + i % psids)
        payload = {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": base + i,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": PAGE_ID},
                            "timestamp": base + i,
                            "message": {"mid": f"m_bench_{i}", "text": f"bench message {i}"},
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        sig = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        out.append((body, sig))
    return out


def fire(port: int, bodies: list[tuple[bytes, str]], concurrency: int) -> dict:
    """C threads, one keep-alive connection each, share the N requests; returns stats."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))
    index_lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: dict[int, int] = {}
        while True:
            with index_lock:
                i = next(next_index, None)
            if i is None:
                break
            body, sig = bodies[i]
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sig}
            start = time.perf_counter()
            for attempt in range(2):  # a server may close an idle keep-alive connection
                try:
                    conn.request("POST", "/webhooks/messenger", body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    if attempt:
                        raise
            mine.append(time.perf_counter() - start)
            codes[resp.status] = codes.get(resp.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "rate": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "elapsed": elapsed,
        "statuses": statuses,
        "latencies": latencies,
    }


def gunicorn(spec: str, port: int, env: dict, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--keep-alive",
        "30",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        spec,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port, proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def prepare(env: dict) -> None:
    """Fresh schema (migrations), one page, the reference table, empty Redis db."""
    code = r"""
from sqlalchemy import text
from app import create_app, db
from flask_migrate import upgrade
from app.pages.models import Page
from app.core.queues import get_redis
app = create_app()
with app.app_context():
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade()
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_reference_event (id bigserial PRIMARY KEY, body text NOT NULL, "
                          "received_at timestamptz NOT NULL DEFAULT now())"))
    p = Page(fb_page_id=PAGE_ID_LITERAL, name="Bench page")
    p.set_token("EAAbenchtoken0000WXYZ")
    db.session.add(p)
    db.session.commit()
    get_redis().flushdb()
""".replace("PAGE_ID_LITERAL", repr(PAGE_ID))
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def check_and_time(env: dict, n: int) -> dict:
    code = r"""
import json
from sqlalchemy import text
from app import create_app, db
app = create_app()
with app.app_context():
    q = lambda s: db.session.execute(text(s)).scalar()
    print(json.dumps({
        "events": q("SELECT count(*) FROM webhook_event"),
        "processed": q("SELECT count(*) FROM webhook_event WHERE status = 'processed'"),
        "messages": q("SELECT count(*) FROM message"),
        "distinct_mids": q("SELECT count(DISTINCT mid) FROM message"),
        "contacts": q("SELECT count(*) FROM contact"),
        "span": q("SELECT EXTRACT(EPOCH FROM max(processed_at) - min(processed_at))::float FROM webhook_event"),
        "reference_rows": q("SELECT count(*) FROM bench_reference_event"),
    }))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="events per endpoint")
    parser.add_argument("-c", type=int, default=32, help="concurrent clients")
    parser.add_argument("--psids", type=int, default=500, help="distinct senders")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (both servers)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (both)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first (not counted)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds per endpoint")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args(argv)
    if not 0 < args.n <= 1_000_000 or not 0 < args.c <= 512 or not 0 < args.rounds <= 100:
        parser.error("keep -n in 1..1000000, -c in 1..512 and --rounds in 1..100")

    env = {
        **os.environ,
        "OMNICRM_ENV": "development",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "FB_APP_SECRET": APP_SECRET,
        "REFERENCE_DSN": args.database_url,
        "RATELIMIT_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    print(f"preparing {args.database_url} and {args.redis_url} ...", flush=True)
    prepare(env)
    bodies = make_bodies(args.n + args.warmup, args.psids)
    warm, timed = bodies[: args.warmup], bodies[args.warmup :]
    print(
        f"N={args.n} C={args.c} gunicorn gthread workers={args.workers} threads={args.threads}, "
        f"{args.psids} senders, {args.warmup} warm-up requests each",
        flush=True,
    )

    # Both servers run side by side; timed requests alternate in rounds (reference, webhook,
    # reference, ...) so a load change on a shared machine hits both alike.
    servers = {}
    try:
        for name, spec in (("reference", "bench.webhook:reference_app()"), ("webhook", "run:app")):
            port = free_port()
            servers[name] = (port, gunicorn(spec, port, env, args))
        for port, _proc in servers.values():
            fire(port, warm, min(args.c, len(warm) or 1))
        chunk = -(-len(timed) // args.rounds)
        parts: dict[str, list[dict]] = {"reference": [], "webhook": []}
        for r in range(args.rounds):
            for name, (port, _proc) in servers.items():
                part = timed[r * chunk : (r + 1) * chunk]
                if part:
                    parts[name].append(fire(port, part, args.c))
    finally:
        for _port, proc in servers.values():
            stop(proc)
    results = {}
    for name, runs in parts.items():
        lat = sorted(x for run in runs for x in run["latencies"])
        statuses: dict[int, int] = {}
        for run in runs:
            for k, v in run["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
        results[name] = r = {
            "rate": len(lat) / sum(run["elapsed"] for run in runs),
            "p50": lat[int(0.50 * (len(lat) - 1))] * 1000,
            "p99": lat[int(0.99 * (len(lat) - 1))] * 1000,
            "statuses": statuses,
        }
        print(
            f"{name:>9}: {r['rate']:8.0f} events/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
            f"statuses {r['statuses']}",
            flush=True,
        )
    ratio = results["webhook"]["rate"] / results["reference"]["rate"]
    print(f"    ratio: webhook / reference = {ratio:.0%}", flush=True)

    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "worker.py", "--burst", "--queues", "webhooks", "--no-cron"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    stats = check_and_time(env, args.n)
    total = args.n + args.warmup
    span = float(stats["span"] or 0) or wall
    print(
        f"processing: 1 worker, {stats['processed']} events in {span:.2f} s = {stats['processed'] / span:.0f} events/s "
        f"(wall incl. start-up {wall:.2f} s)",
        flush=True,
    )
    lost = total - stats["events"]
    dupes = stats["messages"] - stats["distinct_mids"]
    ok = (
        stats["events"] == total
        and stats["processed"] == total
        and stats["messages"] == total
        and dupes == 0
        and stats["reference_rows"] == total
    )
    print(
        f"integrity: events stored {stats['events']}/{total}, processed {stats['processed']}, messages "
        f"{stats['messages']} (distinct mids {stats['distinct_mids']}), contacts {stats['contacts']}, "
        f"reference rows {stats['reference_rows']}; lost {lost}, duplicated {dupes} -> {'OK' if ok else 'FAIL'}",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
