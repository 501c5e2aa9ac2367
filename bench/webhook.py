"""Webhook ingestion and processing throughput, against a minimal durable-ack reference.

    .venv/bin/python bench/webhook.py -c 32        (needs wrk: apt-get install wrk)

Uses PostgreSQL `omni_webhooks` and Redis db 1 (override with --database-url / --redis-url;
the schema is dropped and rebuilt). On the shipped gunicorn.conf.py it runs, side by side:
  1. the reference endpoint defined below (plain Flask: signature check + one INSERT of the raw
     body with psycopg + commit, nothing else: the limit of a durable acknowledgement here);
  2. the real app (`run:app`) at POST /webhooks/messenger.
wrk (C, one thread, C keep-alive connections; bench/webhook_wrk.lua) posts distinct, pre-signed
events for a fixed time per run and reports the rate and latency percentiles; a Python load
generator would eat the cores the servers need. Both servers run side by side and the timed
runs alternate between them, so load changes on a shared machine affect both alike. Then one
`python worker.py --burst --queues webhooks --no-cron` drains the queue; processing time is
measured from the first to the last event processed (read from
the database, so process start-up is not counted). Finally every event is checked: stored once,
processed, exactly one message per mid (nothing lost, nothing duplicated).
Targets (2 cores): webhook ≥ 90 % of the reference, p99 < 50 ms at C=32, ≥ 500 events/s/worker.
Then (--search-rounds, default 2) the same stored events are processed again from scratch with
the search index off and on (SEARCH_INDEXING=0/1), alternating, one burst worker each time:
processing with indexing on should stay >= 800 events/s per worker (docs/search.md); then twice
in one process, the indexing hook's share of the processing time (steadier than two runs' rates).
`--search-only N` needs no wrk: N events stored directly, then only that comparison.

`--channel instagram` posts Instagram Direct bodies (`object: instagram`, entry id = the page's
linked Instagram account) instead; `--channel both` runs a third server for them next to the
Messenger one, alternating with it, and reports Instagram against Messenger (target: ≥ 90 %)
and the processing rate of each channel.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
from flask import Flask, request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_SECRET = "bench-app-secret"
PAGE_ID = "1000000009"
IG_ID = "17841400000000009"  # the bench page's linked Instagram account
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/omni_webhooks"
DEFAULT_REDIS = "redis://127.0.0.1:6379/1"


# --------------------------------------------------------------------------- reference endpoint


def reference_app():
    """Plain Flask + psycopg: verify X-Hub-Signature-256, INSERT the raw body, commit, 200."""

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


def wait_answering(port: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    """Until a worker answers HTTP (any status): the listening socket is bound by gunicorn's
    master long before a worker has imported the app, which on a busy machine takes a while."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # answered (the reference app has no /healthz)
        except OSError:
            time.sleep(0.2)  # a worker is still starting: nothing to wait on instead
    raise SystemExit("server did not answer")


def make_bodies(n: int, psids: int, channel: str = "messenger") -> list[tuple[bytes, str]]:
    """N distinct Meta-shaped text-message events spread over `psids` people, pre-signed
    (Messenger: `object: page`; Instagram: `object: instagram`, IGSIDs, the IG account id)."""
    base = int(time.time() * 1000)
    instagram = channel == "instagram"
    entry_id = IG_ID if instagram else PAGE_ID
    out = []
    for i in range(n):
        psid = str((1_790_000_000 if instagram else 8_000_000_000) + i % psids)
        payload = {
            "object": "instagram" if instagram else "page",
            "entry": [
                {
                    "id": entry_id,
                    "time": base + i,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": entry_id},
                            "timestamp": base + i,
                            "message": {"mid": f"m_bench_{channel[:2]}_{i}", "text": f"bench message {i}"},
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        sig = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        out.append((body, sig))
    return out


def fire(port: int, bodies: list[tuple[bytes, str]], concurrency: int, seconds: float, tmp: Path) -> dict:
    """wrk (C, one thread, `concurrency` keep-alive connections) posts distinct signed events
    for `seconds`; returns its counts and latency percentiles (bench/webhook_wrk.lua)."""
    path = tmp / f"bodies-{port}-{time.monotonic_ns()}.txt"
    with path.open("wb") as fh:
        for body, sig in bodies:
            fh.write(sig.encode() + b"\t" + body + b"\n")
    cmd = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "webhook_wrk.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        str(path),
        "1",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    path.unlink()
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    stats = json.loads(line.removeprefix("WRKJSON "))
    stats["elapsed"] = stats["duration_us"] / 1e6
    stats["rate"] = stats["ok"] / stats["elapsed"]
    return stats


def gunicorn(spec: str, port: int, env: dict, args: argparse.Namespace) -> subprocess.Popen:
    """Both servers run on the shipped gunicorn.conf.py; only the bind address (and workers or
    threads when asked for) differ, so the numbers are those of a real deployment."""
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.Popen([*cmd, spec], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port, proc)
    wait_answering(port, proc)
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
    from bench.seed_scale import ensure_database  # noqa: PLC0415 - bench/ is importable only once sys.path has the repo root

    ensure_database(env["DATABASE_URL"])
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
    p = Page(fb_page_id=PAGE_ID_LITERAL, name="Bench page", ig_account_id=IG_ID_LITERAL)
    p.set_token("EAAbenchtoken0000WXYZ")
    db.session.add(p)
    db.session.commit()
    get_redis().flushdb()
""".replace("PAGE_ID_LITERAL", repr(PAGE_ID)).replace("IG_ID_LITERAL", repr(IG_ID))
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def check_and_time(env: dict) -> dict:
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
        "tokens": q("SELECT count(*) FROM message_search_token"),
        "by_channel": {ch: n for ch, n in db.session.execute(text(
            "SELECT c.channel, count(*) FROM message m JOIN conversation c ON c.id = m.conversation_id "
            "GROUP BY c.channel"))},
    }))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


#: (in an app context of the subprocess) forget what processing wrote and mark every stored
#: event pending again, with an empty Redis: both reprocessing paths start from the same state
RESET = r"""    for table in ("message_search_token", "message", "conversation", "contact"):
        db.session.execute(text(f"DELETE FROM {table}"))
    db.session.execute(text("UPDATE webhook_event SET status = 'pending', attempts = 0, processed_at = NULL"))
    db.session.commit()
    get_redis().flushdb()"""


def reprocess(env: dict, indexing: bool) -> float:
    """Forget what processing wrote (messages, their search tokens, conversations, contacts),
    mark every stored event pending again, and let one burst worker apply them all once more,
    with the search index on or off (SEARCH_INDEXING). Returns events/s (first to last processed)."""
    code = r"""
from sqlalchemy import text
from app import create_app, db
from app.core.queues import enqueue, get_redis
app = create_app()
with app.app_context():
RESET
    enqueue("app.webhooks.tasks.process_pending_events", queue="webhooks")
""".replace("RESET", RESET)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    run_env = {**env, "SEARCH_INDEXING": "1" if indexing else "0"}
    subprocess.run(
        [sys.executable, "worker.py", "--burst", "--queues", "webhooks", "--no-cron"],
        cwd=ROOT,
        env=run_env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stats = check_and_time(env)
    rate = stats["processed"] / float(stats["span"] or 1)
    print(
        f"  reprocessed with search indexing {'on ' if indexing else 'off'}: {stats['processed']} events, "
        f"{stats['messages']} messages, {stats['tokens']} search tokens, {rate:.0f} events/s",
        flush=True,
    )
    return rate


def store_directly(env: dict, n: int, psids: int) -> None:
    """--search-only: N events with 12-word texts stored through the webhook's own storing code
    (no HTTP), so the processing comparison runs even where wrk and gunicorn cannot."""
    code = (
        r"""
import json, random
from app import create_app
from app.webhooks.ingest import store_event
words = ("order parcel refund delivery broken screen invoice payment card account password shipping "
         "tracking number address change cancel return size colour price discount coupon voucher").split()
rng = random.Random(5)
app = create_app()
with app.app_context():
    for i in range(N):
        psid = str(8_000_000_000 + i % PSIDS)
        text = " ".join(rng.choice(words) for _ in range(11)) + f" #{i}"
        item = {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": 1700000000000 + i,
                "message": {"mid": f"m_bench_{i}", "text": text}}
        data = {"object": "page", "entry": [{"id": PAGE, "time": 1700000000000 + i, "messaging": [item]}]}
        store_event(json.dumps(data).encode(), data)
""".replace("PSIDS", str(psids))
        .replace("PAGE", repr(PAGE_ID))
        .replace("N)", f"{n})")
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def hook_share(env: dict) -> None:
    """The share of one worker's processing time spent in the indexing hook, measured in one
    process (wall time inside `listeners._after_flush` / wall time of the whole drain): unlike two
    separate runs' rates, it does not swing with the neighbours' load."""
    code = r"""
import time
from sqlalchemy import text
from app import create_app, db
from app.core.queues import get_redis
from app.search import listeners
from app.webhooks import batch
app = create_app()
app.config["SEARCH_INDEXING"] = True
spent = [0.0]
hook = listeners._after_flush
def timed(session, context):
    start = time.perf_counter()
    hook(session, context)
    spent[0] += time.perf_counter() - start
from sqlalchemy import event
event.remove(db.session.session_factory.class_, "after_flush", hook)
event.listen(db.session.session_factory.class_, "after_flush", timed)
with app.app_context():
RESET
    start = time.perf_counter()
    cpu = time.process_time()
    n = batch.drain()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    tokens = db.session.execute(text("SELECT count(*) FROM message_search_token")).scalar()
    print(f"  in one process: {n} events in {wall:.2f} s ({n / wall:.0f} events/s, worker CPU {cpu:.2f} s), "
          f"{tokens} tokens; indexing hook {spent[0]:.2f} s = {spent[0] / wall:.0%} of the processing time, "
          f"{spent[0] / max(n, 1) * 1e6:.0f} us per event")
""".replace("RESET", RESET)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    print(out.stdout.strip().splitlines()[-1], flush=True)


def search_comparison(env: dict, rounds: int) -> None:
    print("processing with and without the search index (one burst worker, same events):", flush=True)
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for indexing in (False, True):
            rates[indexing].append(reprocess(env, indexing))
    off, on = (statistics.median(rates[flag]) for flag in (False, True))
    print(
        f"  median: indexing off {off:.0f} events/s, on {on:.0f} events/s ({on / max(off, 1):.0%}; target with "
        "indexing >= 800 events/s per worker)",
        flush=True,
    )
    hook_share(env)
    hook_share(env)


def _preflight(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Refuse silly sizes (argparse exits) and say what is missing; False: cannot run."""
    if not 0 < args.c <= 512 or not 0 < args.rounds <= 20 or not 0 < args.seconds <= 60:
        parser.error("keep -c in 1..512, --rounds in 1..20 and --seconds in (0, 60]")
    if shutil.which("wrk") is None and not args.search_only:
        print("bench/webhook.py needs wrk as its load generator: apt-get install wrk", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", type=int, default=32, help="concurrent connections")
    parser.add_argument("--seconds", type=int, default=5, help="length of each timed wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed runs per endpoint")
    parser.add_argument("--max-rate", type=int, default=4000, help="events prepared per second of a run")
    parser.add_argument("--psids", type=int, default=500, help="distinct senders")
    parser.add_argument(
        "--channel",
        choices=("messenger", "instagram", "both"),
        default="messenger",
        help="bodies posted to the app: Messenger, Instagram Direct, or both side by side",
    )
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (both; default: gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, default=0, help="gunicorn threads per worker (both; default: shipped)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument(
        "--search-rounds",
        type=int,
        default=2,
        help="then reprocess every event with search indexing off and on, alternating, this many times each",
    )
    parser.add_argument(
        "--search-only",
        type=int,
        default=0,
        metavar="N",
        help="skip the HTTP runs: store N events directly, then only the indexing off/on comparison",
    )
    args = parser.parse_args(argv)
    if not _preflight(parser, args):
        return 2

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
    if args.search_only:
        store_directly(env, args.search_only, args.psids)
        search_comparison(env, max(1, args.search_rounds))
        return 0
    per_run = int(args.max_rate * args.seconds)
    warm_seconds = 1
    # endpoint name -> the channel of the bodies it gets ("webhook" is the app with Messenger's)
    channels = {"reference": "messenger"}
    if args.channel in ("messenger", "both"):
        channels["webhook"] = "messenger"
    if args.channel in ("instagram", "both"):
        channels["instagram"] = "instagram"
    names = tuple(channels)
    app_names = names[1:]
    runs_needed = 1 + args.rounds  # warm-up + timed
    pools = {name: make_bodies(per_run * runs_needed, args.psids, ch) for name, ch in channels.items()}
    print(
        f"C={args.c} (wrk, 1 thread), {args.rounds} alternating runs of {args.seconds:g} s per endpoint after "
        f"{warm_seconds:g} s warm-up; gunicorn.conf.py as shipped (workers={args.workers or 'shipped'}, "
        f"threads={args.threads or 'shipped'}); "
        f"{args.psids} senders",
        flush=True,
    )

    # Both servers run side by side; timed runs alternate (reference, webhook, reference, ...)
    # so a load change on a shared machine hits both alike. Every run posts its own events.
    servers = {}
    parts: dict[str, list[dict]] = {name: [] for name in names}
    posted = {name: 0 for name in names}
    acked = {name: 0 for name in names}
    tmp = Path(tempfile.mkdtemp(prefix="omnicrm-wrk-"))
    try:
        for name in names:
            port = free_port()
            spec = "bench.webhook:reference_app()" if name == "reference" else "run:app"
            servers[name] = (port, gunicorn(spec, port, env, args))
        for r in range(runs_needed):
            for name, (port, _proc) in servers.items():
                pool = pools[name]
                chunk = pool[:per_run]
                del pool[:per_run]
                run = fire(port, chunk, args.c, warm_seconds if r == 0 else args.seconds, tmp)
                if run["spare"]:
                    print(f"warning: {name} ran out of prepared events; raise --max-rate", file=sys.stderr)
                posted[name] += run["posted"]
                acked[name] += run["ok"]
                if r:
                    parts[name].append(run)
    finally:
        for _port, proc in servers.values():
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    results = {}
    for name, runs in parts.items():
        # percentiles of the pooled runs: the worst run's p99 (conservative), the median p50
        results[name] = r = {
            "rate": sum(run["ok"] for run in runs) / sum(run["elapsed"] for run in runs),
            "p50": sorted(run["p50_us"] for run in runs)[len(runs) // 2] / 1000,
            "p99": max(run["p99_us"] for run in runs) / 1000,
            "max": max(run["max_us"] for run in runs) / 1000,
            "non200": sum(run["other"] for run in runs),
            "errors": sum(run["errors"] for run in runs),
        }
        print(
            f"{name:>9}: {r['rate']:8.0f} events/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
            f"max {r['max']:6.1f} ms  non-200 {r['non200']}  socket errors {r['errors']}",
            flush=True,
        )
    for name in app_names:
        ratio = results[name]["rate"] / (results["reference"]["rate"] or 1)
        print(f"    ratio: {name} / reference = {ratio:.0%}  (targets: >= 90 %, p99 < 50 ms)", flush=True)
    if len(app_names) == 2:
        ratio = results["instagram"]["rate"] / (results["webhook"]["rate"] or 1)
        print(f"    ratio: instagram / webhook (Messenger) = {ratio:.0%}  (target: >= 90 %)", flush=True)

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
    stats = check_and_time(env)
    span = float(stats["span"] or 0) or wall
    print(
        f"processing: 1 worker, {stats['processed']} events in {span:.2f} s = {stats['processed'] / span:.0f} events/s "
        f"(wall incl. start-up {wall:.2f} s; target >= 500)",
        flush=True,
    )
    print(
        "  messages by channel: " + ", ".join(f"{ch} {n}" for ch, n in sorted(stats["by_channel"].items())),
        flush=True,
    )
    acked_app = sum(acked[n] for n in app_names)
    posted_app = sum(posted[n] for n in app_names)
    # wrk cuts the requests in flight when a run ends: those may be stored without being
    # acknowledged, so stored events lie between acknowledged and posted.
    lost = max(0, acked_app - stats["events"])
    dupes = stats["messages"] - stats["distinct_mids"]
    ok = (
        acked_app <= stats["events"] <= posted_app
        and stats["processed"] == stats["events"]
        and stats["messages"] == stats["events"]
        and dupes == 0
        and acked["reference"] <= stats["reference_rows"] <= posted["reference"]
    )
    print(
        f"integrity: app acknowledged {acked_app} of {posted_app} posted, stored {stats['events']}, "
        f"processed {stats['processed']}, messages {stats['messages']} (distinct mids {stats['distinct_mids']}), "
        f"contacts {stats['contacts']}; reference rows {stats['reference_rows']} "
        f"(acknowledged {acked['reference']}); lost {lost}, duplicated {dupes} -> {'OK' if ok else 'FAIL'}",
        flush=True,
    )
    if args.search_rounds:
        search_comparison(env, args.search_rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
