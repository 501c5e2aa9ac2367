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
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from rq import SimpleWorker

from app.conversations import availability as availability_service
from app.core import queues
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
