"""Helper functions shared by the tests (fixtures stay in tests/conftest.py).

Import as `from tests.helpers import ...`. tests/conftest.py sets the test environment before
it imports this module, and pytest imports conftest before any test module, so the app
imports below always see the test configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from rq import SimpleWorker
from sqlalchemy import Connection, Engine, create_engine, select, text

from app import db
from app.audit.models import AuditLog
from app.contacts.models import Contact
from app.conversations import availability as availability_service
from app.conversations.models import Conversation
from app.core import queues
from app.core.models import utcnow
from app.core.queues import QUEUE_NAMES, get_queue, get_redis
from app.webhooks.signals import flush_signals

PASSWORD = "correct-horse-battery"


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token in page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login/")
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(
        "/login/", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )


def api_token(client, username: str, password: str = PASSWORD) -> str:
    resp = client.post(
        "/api/v1/security/login", json={"username": username, "password": password, "provider": "db", "refresh": False}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]


def uid(username: str) -> int:
    """The id of a test user (see USERS in conftest)."""
    return current_app.appbuilder.sm.find_user(username=username).id


def run_jobs(queues: tuple[str, ...] = QUEUE_NAMES, max_jobs: int | None = None) -> int:
    """Drain the real queues in-process (burst), as a worker would. Returns jobs run."""
    flush_signals()  # webhook posts signal their drain job from a background thread

    class CountingWorker(SimpleWorker):
        jobs_run = 0

        def execute_job(self, job, queue):
            self.jobs_run += 1
            return super().execute_job(job, queue)

    worker = CountingWorker([get_queue(q) for q in queues], connection=get_redis())
    worker.work(burst=True, max_jobs=max_jobs, with_scheduler=False)
    return worker.jobs_run


@contextmanager
def redis_unreachable(app: Flask) -> Iterator[None]:
    """Inside: every Redis call of this process fails (nothing listens on port 1), as in an
    outage; the drain signals sent meanwhile fail too, not later against the real Redis."""
    old_url = app.config["REDIS_URL"]
    saved = dict(queues._connections)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    queues._connections.clear()
    try:
        yield
        flush_signals()
    finally:
        app.config["REDIS_URL"] = old_url
        queues._connections.clear()
        queues._connections.update(saved)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free local port that keeps what it receives.

    `reply` makes it answer DATA with an error instead (e.g. "550 5.1.1 no such user")."""

    def __init__(self) -> None:
        self.messages: list = []
        self.reply: str | None = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        if self.reply:
            return self.reply
        raw = envelope.original_content or envelope.content
        self.messages.append(BytesParser(policy=policy.default).parsebytes(raw))
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        """Idempotent: a test may stop it early to simulate an outage."""
        if self._controller.loop.is_running():
            self._controller.stop()

    def texts(self) -> list[str]:
        return [m.get_body(preferencelist=("plain",)).get_content() for m in self.messages]


def audit_actions(entity_type: str | None = None) -> list[str]:
    """The audit log's actions, oldest first (optionally of one entity type)."""
    query = select(AuditLog.action).order_by(AuditLog.id)
    if entity_type is not None:
        query = query.where(AuditLog.entity_type == entity_type)
    return list(db.session.scalars(query))


def instagram_conversation(page, igsid: str = "1122334455667788", ig_id: str = "17841400000000001", **contact_values):
    """Link `page` to an Instagram account and add an Instagram contact (IGSID) with a conversation
    whose 24-hour window is open; returns the conversation."""

    page.ig_account_id = ig_id
    values = {"first_name": "Noor", "last_name": "Haddad", "username": "noor.h", "last_inbound_at": utcnow()}
    values.update(contact_values)
    contact = Contact(page=page, psid=igsid, channel="instagram", **values)
    db.session.add(contact)
    db.session.flush()
    conv = Conversation(
        page_id=page.id,
        contact=contact,
        channel="instagram",
        status="open",
        last_message_at=contact.last_inbound_at,
        last_inbound_at=contact.last_inbound_at,
    )
    db.session.add(conv)
    db.session.commit()
    return conv


def post_signed_webhook(client, data: dict):
    """POST a Meta-shaped payload to the webhook, signed with FB_APP_SECRET (the drain signal
    is flushed so a following `run_jobs` sees its job)."""
    body = json.dumps(data).encode()
    signature = hmac.new(current_app.config["FB_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    resp = client.post(
        "/webhooks/messenger",
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"},
    )
    flush_signals()
    return resp


def set_availability(username: str, availability: str = "online", capacity: int = 20) -> None:
    """Put a test user online/away with a capacity (the service the API and navbar use)."""
    availability_service.do_update(uid(username), {"availability": availability, "capacity": capacity})


@contextmanager
def scratch_database(app, tmp_path) -> Iterator[Engine]:
    """Point the app's engine at an empty database of the test's backend for the block (dropped
    afterwards): migration tests upgrade it step by step."""
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        name = f"omnicrm_mig_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        target = url.set(database=name)
    else:
        admin, name = None, None
        target = f"sqlite:///{tmp_path / 'scratch.db'}"
    engines = app.extensions["sqlalchemy"]._app_engines[app]
    saved = dict(engines)
    try:
        engines[None] = create_engine(target)
        yield engines[None]
    finally:
        engines[None].dispose()
        engines.clear()
        engines.update(saved)
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def previous_revision(app: Flask, revision: str) -> str:
    """The migration before `revision` (a data migration's test upgrades to it, seeds, then
    upgrades through `revision`)."""
    config = app.extensions["migrate"].migrate.get_config()
    previous = ScriptDirectory.from_config(config).get_revision(revision).down_revision
    assert isinstance(previous, str)
    return previous


def insert_conversation_1(conn: Connection, at: datetime) -> None:
    """Page 1, contact 1 and conversation 1 in plain SQL, as any migration since 0001 can hold
    them (data migration tests add their messages to it)."""
    conn.execute(text("INSERT INTO page (id, fb_page_id, name, created_at) VALUES (1, 'p1', 'P', :t)"), {"t": at})
    conn.execute(text("INSERT INTO contact (id, page_id, psid, first_seen_at) VALUES (1, 1, 'ps1', :t)"), {"t": at})
    conn.execute(
        text(
            "INSERT INTO conversation (id, page_id, contact_id, status, unread_count, created_at) "
            "VALUES (1, 1, 1, 'open', 0, :t)"
        ),
        {"t": at},
    )


def waiting_conversation(page: Any, name: str, hours_ago: float = 1, **values: Any) -> Conversation:
    """An open conversation whose contact wrote `hours_ago` hours ago and waits for a reply
    (its 24-hour window counted from then); `values` set other conversation columns."""
    contact = Contact(
        page=page, psid=f"w-{name}", first_name=name, last_inbound_at=utcnow() - timedelta(hours=hours_ago)
    )
    db.session.add(contact)
    db.session.flush()
    conv = Conversation(
        page_id=page.id,
        contact_id=contact.id,
        status="open",
        last_message_at=contact.last_inbound_at,
        last_inbound_at=contact.last_inbound_at,
        window_expires_at=contact.last_inbound_at + timedelta(hours=24),
        awaiting_reply=True,
        **values,
    )
    db.session.add(conv)
    db.session.commit()
    return conv
