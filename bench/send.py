"""Outbound throughput: RQ workers sending replies to FakeGraph vs a bare `requests` loop.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/omni_replies \
    REDIS_URL=redis://127.0.0.1:6379/2 .venv/bin/python bench/send.py -n 1000 --reset

Starts FakeGraph in its own process, then measures:
  1. a bare loop of `requests` posts (one keep-alive session) to the fake's Send API, and the
     same with requests' per-call proxy lookup off (as GraphClient runs), for reference;
  2. one `python worker.py --burst --queues outbound --no-cron` draining N queued replies;
  3. the loops of 1. again (the ratio uses the mean of both, so drift on a shared machine
     hits both sides alike);
  4. four workers at once.
Worker throughput is N / (last sent_at - first send_started_at), read from the database, so
process start-up is not counted. Each reply goes to its own conversation (one conversation's
replies go out strictly one after another by design). Targets: one worker ≥ 70 % of the bare
loop, four workers ≥ 200 sends/s. Needs a database and Redis that nothing else is using.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from flask_migrate import upgrade
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

logger = logging.getLogger(__name__)

APP_SECRET = "bench-app-secret"
TOKEN = "EAAbenchtoken0000WXYZ"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.devtools.fakegraph", "--port", str(port), "--app-secret", APP_SECRET],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)  # waiting for a child process to bind: nothing to wait on instead
    proc.kill()
    raise SystemExit("FakeGraph did not start")


def bare_loop(base: str, n: int, trust_env: bool = True) -> float:

    from app.messenger.client import appsecret_proof  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    session = requests.Session()
    session.trust_env = trust_env  # False: proxy settings not re-read per call, as GraphClient does
    params = {"access_token": TOKEN, "appsecret_proof": appsecret_proof(TOKEN, APP_SECRET)}
    url = f"{base}/v21.0/1000000001/messages"
    start = time.perf_counter()
    for i in range(n):
        resp = session.post(
            url,
            params=params,
            json={
                "recipient": {"id": f"9{i:09d}"},
                "messaging_type": "RESPONSE",
                "message": {"text": f"bench reply {i}", "metadata": f"omnicrm:{i}"},
            },
            timeout=(3.05, 10),
        )
        resp.raise_for_status()
    return n / (time.perf_counter() - start)


def queue_replies(app, n: int) -> int:
    """A fresh page with n contacts/conversations and one queued reply each; returns the page id."""
    from app import db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.contacts.models import Contact  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.conversations import services  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.conversations.models import Conversation  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.core.models import utcnow  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.pages.models import Page  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    with app.app_context():
        page = Page(fb_page_id=str(int(time.time() * 1000)), name="Bench page")
        page.set_token(TOKEN)
        db.session.add(page)
        db.session.flush()
        now = utcnow()
        conversations = []
        for i in range(n):
            contact = Contact(page_id=page.id, psid=f"8{i:09d}", first_name="Bench", last_inbound_at=now)
            db.session.add(contact)
            db.session.flush()
            conv = Conversation(page_id=page.id, contact_id=contact.id, status="open", last_inbound_at=now)
            db.session.add(conv)
            conversations.append(conv)
        db.session.commit()
        for i, conv in enumerate(conversations):
            services.queue_reply(conv, f"bench reply {i}")
        return page.id


def run_workers(count: int, env: dict[str, str]) -> float:
    procs = [
        subprocess.Popen(
            [sys.executable, "worker.py", "--burst", "--queues", "outbound", "--no-cron"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    start = time.perf_counter()
    for proc in procs:
        proc.wait(timeout=600)
    return time.perf_counter() - start


def measure(app, page_id: int) -> tuple[int, int, float]:

    from app import db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
    from app.conversations.models import Conversation, Message  # noqa: PLC0415 - imported after main() sets the environment and sys.path

    with app.app_context():
        query = select(
            func.count(Message.id).filter(Message.status == "sent"),
            func.count(Message.id),
            func.min(Message.send_started_at),
            func.max(Message.sent_at),
        ).join(Conversation, Conversation.id == Message.conversation_id)
        sent, total, first, last = db.session.execute(query.where(Conversation.page_id == page_id)).one()
    seconds = (last - first).total_seconds() if first and last else float("nan")
    return sent, total, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="replies per run")
    parser.add_argument("--reset", action="store_true", help="drop and re-create the schema first (PostgreSQL)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        print("set DATABASE_URL and REDIS_URL to a database and Redis db used by nothing else", file=sys.stderr)
        return 2

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "GRAPH_API_BASE": base,
            "FB_APP_SECRET": APP_SECRET,
            "OMNICRM_INSTANCE_DIR": os.environ.get("OMNICRM_INSTANCE_DIR") or tempfile.mkdtemp(prefix="omnicrm-bench-"),
        }
    )
    logging.basicConfig(level=logging.WARNING)
    fake = start_fake(port)
    try:
        from app import create_app, db  # noqa: PLC0415 - imported after main() sets the environment and sys.path
        from app.conversations import tasks  # noqa: PLC0415 - imported after main() sets the environment and sys.path
        from app.core.queues import get_queue, get_redis  # noqa: PLC0415 - imported after main() sets the environment and sys.path

        app = create_app()
        with app.app_context():
            if args.reset and db.engine.dialect.name == "postgresql":
                with db.engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
            upgrade()
            get_queue("outbound").empty()
            get_redis().delete(tasks.DRAIN_FLAG, tasks.UNATTEMPTED_KEY)  # left by an earlier run

        def loops(label: str) -> tuple[float, float]:
            bare, tuned = bare_loop(base, args.n), bare_loop(base, args.n, trust_env=False)
            print(f"bare requests loop : {bare:8.1f} sends/s  (proxy env read once: {tuned:8.1f}) {label}")
            return bare, tuned

        def workers_run(workers: int) -> float:
            page_id = queue_replies(app, args.n)
            wall = run_workers(workers, dict(os.environ))
            sent, total, seconds = measure(app, page_id)
            rate = sent / seconds if seconds and seconds > 0 else float("nan")
            print(
                f"{workers} worker{'s' if workers > 1 else ' '}          : {sent}/{total} sent, {rate:8.1f} sends/s "
                f"(sending window {seconds:.2f} s, wall incl. start-up {wall:.2f} s)"
            )
            return rate

        # the loops run before and after the one-worker run: a shared machine's drift hits both
        before = loops("(before)")
        one = workers_run(1)
        after = loops("(after)")
        four = workers_run(4)
        bare, tuned = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        print(
            f"1 worker / bare loop: {one / bare:.0%} (target >= 70%); / bare loop with the proxy env read once: "
            f"{one / tuned:.0%}"
        )
        print(f"4 workers           : {four:.1f} sends/s (target >= 200)")
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
