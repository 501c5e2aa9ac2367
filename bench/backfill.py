"""Backfill speed and memory: 10,000 history messages recovered from the fake Graph API.

The fake runs in its own process (`python -m app.devtools.fakegraph`) holding N conversations
of M messages; the backfill runs here at Meta's pace (2 calls/s per page, CHANNEL_BACKFILL_RATE)
and the script prints the time, the Graph calls, and this process's RSS sampled every 50 ms
(start, peak, end). Target (issue 18): < 30 s, memory flat. A second run must add nothing.

Usage (SQLite + embedded Redis in a temp dir, or set DATABASE_URL / REDIS_URL to spare ones):
    .venv/bin/python bench/backfill.py [--conversations 200] [--messages 50]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_SECRET = "bench-app-secret"
PAGE_ID = "1000000777"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.samples.append(rss_mb())


def control(base: str, payload: dict) -> dict:
    req = urllib.request.Request(
        base + "/_control", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def start_fake(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.devtools.fakegraph", "--port", str(port), "--app-secret", APP_SECRET],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("FakeGraph did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args(argv)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = tempfile.mkdtemp(prefix="omnicrm-bench-backfill-")
    os.environ.update(
        {
            "GRAPH_API_BASE": base,
            "GRAPH_API_VERSION": "v22.0",
            "FB_APP_SECRET": APP_SECRET,
            "OMNICRM_ENV": "development",
            "OMNICRM_INSTANCE_DIR": os.environ.get("OMNICRM_INSTANCE_DIR") or tmp,
        }
    )
    fake = start_fake(port)
    try:
        from flask_migrate import upgrade  # noqa: PLC0415 - imported after the environment is set

        from app import create_app, db  # noqa: PLC0415 - imported after the environment is set
        from app.core.context import acting_as, cli_actor  # noqa: PLC0415 - imported after the environment is set
        from app.pages import backfill  # noqa: PLC0415 - imported after the environment is set
        from app.pages.models import Page  # noqa: PLC0415 - imported after the environment is set

        start = time.time() - 86400
        total = control(
            base,
            {
                "action": "history",
                "page_id": PAGE_ID,
                "generate": {"conversations": args.conversations, "messages": args.messages, "start": start, "step": 1},
            },
        )["messages"]
        app = create_app()
        with app.app_context():
            upgrade()
            page = db.session.query(Page).filter_by(fb_page_id=PAGE_ID).one_or_none()
            if page is None:
                page = Page(fb_page_id=PAGE_ID, name="Bench page")
                page.set_token("EAAbenchpagetoken0000")
                db.session.add(page)
                db.session.commit()
            since = backfill.parse_since(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 60)))
            sampler = RssSampler()
            rss_start = rss_mb()
            sampler.start()
            t0 = time.perf_counter()
            with acting_as(cli_actor()):
                report = backfill.do_backfill(page, since)
            seconds = time.perf_counter() - t0
            sampler.stop.set()
            sampler.join()
            t1 = time.perf_counter()
            with acting_as(cli_actor()):
                again = backfill.do_backfill(db.session.merge(page), since)
            second = time.perf_counter() - t1
        peak = max(sampler.samples or [rss_start])
        print(f"history messages:   {total} in {args.conversations} conversations")
        rate = report.inserted / seconds
        calls = report.calls
        print(f"recovered:          {report.inserted} in {seconds:.1f} s ({rate:.0f} msg/s), {calls} Graph calls")
        print(f"RSS (MB):           start {rss_start:.0f}, peak {peak:.0f}, end {rss_mb():.0f}")
        print(f"second run:         {again.inserted} added, {again.known} already present, {second:.1f} s")
        ok = report.inserted == total and again.inserted == 0 and seconds < 30
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
