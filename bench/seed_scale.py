"""Fill a PostgreSQL database with a realistic large data set for the scale benchmark.

Default: 1,000,000 contacts over 5 pages, 1,000,000 conversations, ~10,000,000 messages, plus
one conversation with 10,000 messages. ``--scale 0.1`` makes a tenth of that (the big
conversation always has 10,000 messages).

Why it is fast: rows go in through COPY (psycopg 3 ``cursor.copy``) with ids assigned here,
secondary indexes are dropped during the load and rebuilt once at the end, foreign-key
triggers are skipped for the loading session (rows are consistent by construction), and
message texts are Fernet-encrypted once from a small pool and the ciphertexts reused.

Why it is resumable: every chunk commits together with a marker row in ``bench_seed_state``;
a re-run skips what is marked done. ``--reset`` truncates the data tables first.

Usage:  .venv/bin/python bench/seed_scale.py [--url URL] [--scale 0.1] [--reset]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

logger = logging.getLogger(__name__)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/omni_scale"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
PAGES = 5
MSG_CHUNKS = 20
BIG_CONVERSATION_MESSAGES = 10_000
NOW = datetime(2026, 11, 26, 12, 0, 0)

FIRST_NAMES = (
    "Ana Anabel Diana Juliana Anastasia Maria Mariana Sofia Lucia Elena Laura Marta Paula Sara "
    "Carmen Isabel Clara Julia Irene Alba Noa Emma Olivia Mia Lea Nora Ines Rosa Eva Alicia "
    "Hugo Lucas Mateo Martin Pablo Daniel Alejandro David Adrian Mario Diego Javier Carlos "
    "Jose Juan Manuel Antonio Luis Miguel Pedro Rafael Sergio Jorge Alberto Ivan Ruben Oscar "
    "John James Robert Michael William Richard Thomas Charles Joseph Christopher Mark Paul "
    "Kevin Brian George Edward Jason Ryan Gary Eric Stephen Larry Justin Scott Frank Raymond "
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Karen Nancy Lisa Betty "
    "Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah "
    "Ahmed Fatima Yusuf Aisha Omar Layla Hassan Zainab Ali Mariam Chen Wei Li Na Yuki Haruto "
    "Priya Arjun Ananya Rohan Olga Ivan Dmitri Natasha Pierre Camille Louis Chloe Jan Anna"
).split()
LAST_NAMES = (
    "Garcia Rodriguez Gonzalez Fernandez Lopez Martinez Sanchez Perez Gomez Martin Jimenez "
    "Ruiz Hernandez Diaz Moreno Alvarez Munoz Romero Alonso Gutierrez Navarro Torres "
    "Dominguez Vazquez Ramos Gil Ramirez Serrano Blanco Molina Morales Suarez Ortega Delgado "
    "Castro Ortiz Rubio Marin Sanz Iglesias Smith Johnson Williams Brown Jones Miller Davis "
    "Wilson Anderson Taylor Thomas Moore Jackson White Harris Thompson Clark Lewis Robinson "
    "Walker Young Allen King Wright Scott Hill Green Adams Baker Nelson Carter Mitchell "
    "Khan Ahmed Hussain Wang Zhang Liu Chen Yang Tanaka Suzuki Sato Patel Sharma Singh "
    "Ivanov Petrov Smirnov Dubois Bernard Muller Schmidt Schneider Fischer Weber Rossi Russo"
).split()
TEXTS = (
    "Hi! Is this still available?",
    "What are your opening hours?",
    "Thanks, that helps a lot.",
    "Can I change my delivery address?",
    "My order hasn't arrived yet.",
    "Do you ship to Portugal?",
    "How much is shipping?",
    "I'd like a refund please.",
    "Great, see you tomorrow.",
    "Could you send me the invoice?",
    "Hello, we have received your message and will answer shortly.",
    "Your order has been shipped, tracking number attached.",
    "Sorry for the delay, we are looking into it.",
    "Yes, we deliver there in 3-5 working days.",
    "You're welcome! Anything else?",
    "Ok 👍",
    "Do you have it in blue?",
    "Is there a discount for students?",
    "The link does not work.",
    "Perfect, thank you!",
)


def log(msg: str, t0: float) -> None:
    print(f"[{time.monotonic() - t0:7.1f}s] {msg}", flush=True)


def ensure_database(url: str) -> None:
    """Create the target database when it does not exist (connects to `postgres`)."""
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = urlunparse(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def flask_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=url, REDIS_URL=env.get("BENCH_REDIS_URL", DEFAULT_REDIS), OMNICRM_ENV="development")
    return env


def migrate_schema(url: str) -> None:
    """The real schema, through the project's own migrations and init command."""
    flask = str(ROOT / ".venv" / "bin" / "flask")
    for args in (["db", "upgrade"], ["omnicrm", "init"]):
        subprocess.run([flask, "--app", "run", *args], cwd=ROOT, env=flask_env(url), check=True)


def encrypted_pool() -> list[str]:
    """Encrypt each sample text once with the app's key; COPY text must be tab/newline free."""
    from app.core import crypto  # noqa: PLC0415 - the app loads only when encrypting, after the database is chosen
    from config import DEV_ENCRYPTION_KEY  # noqa: PLC0415 - the app loads only when encrypting, after the database is chosen

    crypto.configure(os.environ.get("ENCRYPTION_KEYS") or DEV_ENCRYPTION_KEY)
    return [crypto.encrypt(t) for t in TEXTS]


def is_done(conn: psycopg.Connection, stage: str) -> bool:
    return conn.execute("SELECT 1 FROM bench_seed_state WHERE stage = %s", (stage,)).fetchone() is not None


def mark_done(conn: psycopg.Connection, stage: str, info: str = "") -> None:
    conn.execute("INSERT INTO bench_seed_state (stage, info) VALUES (%s, %s)", (stage, info))


def drop_secondary_indexes(conn: psycopg.Connection, table: str) -> None:
    """Remember and drop indexes that back no constraint; rebuilt once after the load."""
    rows = conn.execute(
        """SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
           WHERE t.relname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)""",
        (table,),
    ).fetchall()
    for name, ddl in rows:
        conn.execute(
            "INSERT INTO bench_seed_indexes (name, ddl) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (name, ddl),
        )
        conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    conn.commit()


def rebuild_indexes(conn: psycopg.Connection, t0: float) -> None:
    conn.execute("SET maintenance_work_mem = '512MB'")
    for name, ddl in conn.execute("SELECT name, ddl FROM bench_seed_indexes ORDER BY name").fetchall():
        exists = conn.execute("SELECT 1 FROM pg_class WHERE relname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(ddl)
            log(f"index {name} rebuilt", t0)
        conn.execute("DELETE FROM bench_seed_indexes WHERE name = %s", (name,))
        conn.commit()


def ts(value: datetime | None) -> str:
    return "\\N" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def contact_row(i: int) -> tuple[int, datetime]:
    """Deterministic attributes of contact/conversation i (1-based): page and last inbound."""
    page = (i % PAGES) + 1
    h = (i * 2654435761) & 0xFFFFFFFF
    last = NOW - timedelta(seconds=h % (365 * 86400))
    return page, last


def seed_pages(conn: psycopg.Connection) -> None:
    for p in range(1, PAGES + 1):
        conn.execute(
            """INSERT INTO page (id, fb_page_id, name, retention_days, subscribed, needs_reauth, created_at)
               VALUES (%s, %s, %s, 3650, true, false, %s) ON CONFLICT DO NOTHING""",
            (p, f"bench-page-{p}", f"Bench Page {p}", NOW - timedelta(days=400)),
        )


def seed_contacts(conn: psycopg.Connection, n: int, t0: float) -> None:
    nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
    cols = (
        "id, page_id, psid, first_name, last_name, locale, tags, marketing_opt_out, is_minor, "
        "legal_hold, restricted, first_seen_at, last_inbound_at"
    )
    step = 100_000
    with conn.cursor() as cur, cur.copy(f"COPY contact ({cols}) FROM STDIN") as copy:
        for start in range(1, n + 1, step):
            lines = []
            for i in range(start, min(start + step, n + 1)):
                page, last = contact_row(i)
                h = (i * 40503) & 0xFFFF
                first_seen = (last or NOW) - timedelta(days=h % 200)
                opt_out = "t" if h % 20 == 0 else "f"
                tags = "vip" if h % 50 == 1 else "\\N"
                lines.append(
                    f"{i}\t{page}\t{7_000_000_000_000_000 + i}\t{FIRST_NAMES[(i * 7) % nf]}\t"
                    f"{LAST_NAMES[(i * 13) % nl]}\ten_US\t{tags}\t{opt_out}\tf\tf\tf\t"
                    f"{ts(first_seen)}\t{ts(last)}\n"
                )
            copy.write("".join(lines))
            log(f"contacts {min(start + step - 1, n):,}/{n:,}", t0)


# agent workspace columns (migration 0006): windows are shifted to the day of the run, so the
# conversations whose last message is in the newest 24 h of the data have an open reply window
WINDOW_SHIFT = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - NOW
LABELS = ("vip", "billing", "shipping", "refund", "spam")
PRIORITY_BY_MOD = {0: "urgent", 1: "high", 2: "high", 3: "low"}


def workspace_values(i: int, last: datetime) -> tuple[str, list[str]]:
    """COPY fields for window_expires_at, awaiting_reply, labels, priority, channel; and labels."""
    window = last + timedelta(hours=24) + WINDOW_SHIFT
    awaiting = "t" if i % 3 else "f"  # two thirds wait for an answer
    h = (i * 2654435761) & 0xFFFFFFFF  # labels independent of status (which follows i % 10)
    labels = [LABELS[k] for k in range(len(LABELS)) if (h >> (4 * k)) % (10 * (k + 1)) == 1]
    priority = PRIORITY_BY_MOD.get(i % 100, "normal")
    channel = "instagram" if i % 7 == 0 else "messenger"
    labels_json = ("[" + ", ".join(f'"{x}"' for x in labels) + "]") if labels else "\\N"
    return f"{ts(window)}\t{awaiting}\t{labels_json}\t{priority}\t{channel}", labels


def seed_conversations(conn: psycopg.Connection, n: int, t0: float) -> None:
    cols = (
        "id, page_id, contact_id, status, last_message_at, last_inbound_at, unread_count, created_at, "
        "window_expires_at, awaiting_reply, labels, priority, channel"
    )
    statuses = ("open", "pending", "closed", "closed", "closed", "closed", "closed", "closed", "open", "closed")
    step = 100_000
    label_rows: list[str] = []
    with conn.cursor() as cur, cur.copy(f"COPY conversation ({cols}) FROM STDIN") as copy:
        for start in range(1, n + 1, step):
            lines = []
            for i in range(start, min(start + step, n + 1)):
                page, last = contact_row(i)
                last_msg = (last or NOW - timedelta(days=400)) + timedelta(minutes=5)
                status = statuses[i % 10]
                unread = (i % 4) if status == "open" else 0
                extra, labels = workspace_values(i, last)
                label_rows.extend(f"{i}\t{label}\n" for label in labels)
                lines.append(
                    f"{i}\t{page}\t{i}\t{status}\t{ts(last_msg)}\t{ts(last)}\t{unread}\t"
                    f"{ts(last_msg - timedelta(days=30))}\t{extra}\n"
                )
            copy.write("".join(lines))
            log(f"conversations {min(start + step - 1, n):,}/{n:,}", t0)
    with conn.cursor() as cur, cur.copy("COPY conversation_label (conversation_id, label) FROM STDIN") as copy:
        copy.write("".join(label_rows))
    log(f"conversation labels {len(label_rows):,}", t0)


def messages_for(i: int) -> int:
    """1..19 messages per conversation, 10 on average."""
    return 1 + (i * 7919) % 19


def first_message_id(i: int) -> int:
    """Ids are a pure function of the conversation so chunks can be (re)loaded independently."""
    # sum of messages_for(1..i-1): the pattern repeats every 19 conversations (sum 190)
    full, rest = divmod(i - 1, 19)
    return 1 + full * 190 + sum(messages_for(k) for k in range(full * 19 + 1, full * 19 + 1 + rest))


MSG_COLS = "id, conversation_id, mid, direction, author_id, text, kind, status, attempts, created_at, sent_at"


def message_lines(conv: int, count: int, first_id: int, last_msg: datetime, pool: list[str]) -> list[str]:
    out = []
    for k in range(count):
        mid_ = first_id + k
        created = last_msg - timedelta(minutes=7 * (count - 1 - k))
        inbound = k % 2 == 0
        direction, status = ("in", "received") if inbound else ("out", "read" if k % 3 else "delivered")
        sent = "\\N" if inbound else ts(created)
        out.append(
            f"{mid_}\t{conv}\tm.{mid_:012d}\t{direction}\t\\N\t{pool[(mid_ * 31) % len(pool)]}\ttext\t"
            f"{status}\t{0 if inbound else 1}\t{ts(created)}\t{sent}\n"
        )
    return out


def seed_message_chunk(conn: psycopg.Connection, lo: int, hi: int, pool: list[str]) -> int:
    written = 0
    next_id = first_message_id(lo)
    with conn.cursor() as cur, cur.copy(f"COPY message ({MSG_COLS}) FROM STDIN") as copy:
        buf: list[str] = []
        for i in range(lo, hi):
            _page, last = contact_row(i)
            count = messages_for(i)
            last_msg = (last or NOW - timedelta(days=400)) + timedelta(minutes=5)
            buf.extend(message_lines(i, count, next_id, last_msg, pool))
            next_id += count
            written += count
            if len(buf) >= 50_000:
                copy.write("".join(buf))
                buf = []
        if buf:
            copy.write("".join(buf))
    return written


def seed_big_conversation(conn: psycopg.Connection, n: int, pool: list[str]) -> tuple[int, int]:
    """One more contact + conversation with 10,000 messages (the conversation-view benchmark)."""
    cid = n + 1
    first_id = first_message_id(n + 1)
    conn.execute(
        """INSERT INTO contact (id, page_id, psid, first_name, last_name, locale, marketing_opt_out,
               is_minor, legal_hold, restricted, first_seen_at, last_inbound_at)
           VALUES (%s, 1, %s, 'Bigthread', 'Chatterbox', 'en_US', false, false, false, false, %s, %s)""",
        (cid, str(8_000_000_000_000_000 + cid), NOW - timedelta(days=300), NOW - timedelta(minutes=1)),
    )
    conn.execute(
        """INSERT INTO conversation (id, page_id, contact_id, status, last_message_at, last_inbound_at,
               unread_count, created_at) VALUES (%s, 1, %s, 'open', %s, %s, 1, %s)""",
        (cid, cid, NOW, NOW - timedelta(minutes=1), NOW - timedelta(days=300)),
    )
    with conn.cursor() as cur, cur.copy(f"COPY message ({MSG_COLS}) FROM STDIN") as copy:
        copy.write("".join(message_lines(cid, BIG_CONVERSATION_MESSAGES, first_id, NOW, pool)))
    return cid, first_id + BIG_CONVERSATION_MESSAGES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M contacts / 10M messages")
    parser.add_argument("--reset", action="store_true", help="truncate the data tables first")
    parser.add_argument("--skip-schema", action="store_true", help="do not run db upgrade / omnicrm init")
    parser.add_argument(
        "--skip-messages", action="store_true", help="contacts and conversations only (the inbox queue benchmarks)"
    )
    args = parser.parse_args()

    t0 = time.monotonic()
    n = max(int(1_000_000 * args.scale), 19)
    ensure_database(args.url)
    if not args.skip_schema:
        migrate_schema(args.url)
        log("schema up to date", t0)
    pool = encrypted_pool()

    with psycopg.connect(args.url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_seed_state (stage text PRIMARY KEY, info text)")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_seed_indexes (name text PRIMARY KEY, ddl text NOT NULL)")
        conn.commit()
        if args.reset:
            conn.execute(
                "TRUNCATE message, conversation_label, conversation, contact, page, bench_seed_state "
                "RESTART IDENTITY CASCADE"
            )
            conn.commit()
            log("truncated", t0)
        done = conn.execute("SELECT info FROM bench_seed_state WHERE stage = 'scale'").fetchone()
        if done and float(done[0]) != args.scale:
            print(f"database was seeded at scale {done[0]}; use --reset to change scale", file=sys.stderr)
            return 2
        if not done:
            mark_done(conn, "scale", str(args.scale))
            conn.commit()
        # rows are consistent by construction: skip per-row FK triggers while loading
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")

        if not is_done(conn, "load"):
            for table in ("contact", "conversation", "message"):
                drop_secondary_indexes(conn, table)
            log("secondary indexes dropped for the load", t0)

        if not is_done(conn, "contacts"):
            seed_pages(conn)
            seed_contacts(conn, n, t0)
            mark_done(conn, "contacts")
            conn.commit()
        if not is_done(conn, "conversations"):
            seed_conversations(conn, n, t0)
            mark_done(conn, "conversations")
            conn.commit()

        bounds = [1 + (n * c) // MSG_CHUNKS for c in range(MSG_CHUNKS + 1)]
        total = first_message_id(n + 1) - 1
        for c in range(MSG_CHUNKS):
            stage = f"messages-{c}"
            if is_done(conn, stage) or args.skip_messages:
                continue
            seed_message_chunk(conn, bounds[c], bounds[c + 1], pool)
            mark_done(conn, stage)
            conn.commit()
            log(f"messages {first_message_id(bounds[c + 1]) - 1:,}/{total:,} (chunk {c + 1}/{MSG_CHUNKS})", t0)

        if not is_done(conn, "big"):
            big_id, _next_msg = seed_big_conversation(conn, n, pool)
            mark_done(conn, "big", str(big_id))
            conn.commit()
            log(f"conversation {big_id} with {BIG_CONVERSATION_MESSAGES:,} messages", t0)
        if not is_done(conn, "load"):
            mark_done(conn, "load")
            conn.commit()

        rebuild_indexes(conn, t0)
        for table in ("page", "contact", "conversation", "message"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) contact, conversation, conversation_label, message, page")
        big = conn.execute("SELECT info FROM bench_seed_state WHERE stage = 'big'").fetchone()
        counts = {
            t: conn.execute(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{t}'").fetchone()[0]
            for t in ("contact", "conversation", "message")
        }
    log(f"done: ~{counts} (planner counts); big conversation id {big[0] if big else '?'}", t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
