"""Time the agent workspace's hot paths on a big PostgreSQL database.

The navbar bell counts unread notifications on every page; the notifications page lists the
newest 50; the conversation view places notes in the thread; the `/` picker renders matches.
Seeds (into an EMPTY scratch database: the schema is dropped and rebuilt) N notifications over
20 users, 2,000 notes on one conversation and 500 canned replies, then times each call.

Usage:
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch .venv/bin/python bench/workspace.py [-n 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMNICRM_ENV", "testing")


def _time(fn: Callable[[], Any], runs: int = 50) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1_000_000, help="notifications to seed")
    args = parser.parse_args()
    from flask_migrate import upgrade  # noqa: PLC0415 - after the environment is set
    from sqlalchemy import text  # noqa: PLC0415 - after the environment is set

    from app import create_app, db  # noqa: PLC0415 - after the environment is set
    from app.audit import listeners  # noqa: PLC0415 - after the environment is set
    from app.contacts.models import Contact  # noqa: PLC0415 - after the environment is set
    from app.conversations import canned, notes  # noqa: PLC0415 - after the environment is set
    from app.conversations.models import Conversation  # noqa: PLC0415 - after the environment is set
    from app.conversations.workspace_models import CannedReply, ConversationNote  # noqa: PLC0415 - after the environment is set
    from app.core.models import utcnow  # noqa: PLC0415 - after the environment is set
    from app.notifications import services  # noqa: PLC0415 - after the environment is set
    from app.ops.cli import ensure_roles  # noqa: PLC0415 - after the environment is set
    from app.pages.models import Page  # noqa: PLC0415 - after the environment is set

    app = create_app()
    with app.app_context(), listeners.disabled():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        ensure_roles()
        sm = app.appbuilder.sm
        agent = sm.find_role("Agent")
        users = [
            sm.add_user(f"bench{i}", f"Bench{i}", "User", f"b{i}@bench.test", [agent], "Bench-Passw0rd!")
            for i in range(20)
        ]
        page = Page(fb_page_id="1", name="Bench Page")
        contact = Contact(page=page, psid="1", first_name="Ada", last_name="Lovelace")
        conv = Conversation(page=page, contact=contact, status="open", last_message_at=utcnow())
        db.session.add_all([page, contact, conv])
        db.session.commit()
        ids = [u.id for u in users]
        t0 = time.perf_counter()
        db.session.execute(
            text(
                "INSERT INTO notification (user_id, kind, conversation_id, created_at, read_at) "
                "SELECT (:ids)[1 + i % 20], 'mention', :conv, now() - make_interval(secs => i), "
                "CASE WHEN i % 10 = 0 THEN NULL ELSE now() END FROM generate_series(1, :n) AS i"
            ),
            {"ids": ids, "conv": conv.id, "n": args.n},
        )
        db.session.add_all(
            ConversationNote(conversation_id=conv.id, author_id=ids[0], text=f"note {i} @bench1", created_at=utcnow())
            for i in range(2000)
        )
        db.session.add_all(
            CannedReply(shortcut=f"c{i:03d}", title=f"Reply {i}", text="Hi {{contact.first_name}}") for i in range(500)
        )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        print(f"seeded {args.n:,} notifications, 2,000 notes, 500 canned replies in {time.perf_counter() - t0:.1f} s")
        rows = [
            ("bell: unread_count (every page)", lambda: services.unread_count(ids[1])),
            ("notifications page: newest 50", lambda: services.recent(ids[1])),
            ("thread: notes placed (2,000 notes)", lambda: notes.thread_notes(conv, [], False, False)),
            ("picker: /c0 (10 of 500 rendered)", lambda: canned.matches(conv, "c0", agent_id=ids[0])),
        ]
        print(f"{'call':40} {'median ms':>10} {'p95 ms':>8}")
        for name, fn in rows:
            median, p95 = _time(fn)
            db.session.rollback()
            print(f"{name:40} {median:10.2f} {p95:8.2f}")


if __name__ == "__main__":
    main()
