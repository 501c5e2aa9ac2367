"""Fixtures for the webhook tests: signed posts, and posts followed by a worker run."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from app.webhooks import signals
from tests.webhooks.webhook_helpers import PAGE_ID, payload, sign256


@pytest.fixture
def post_webhook(app, client):
    """post_webhook(dict | bytes, signature=...) -> response; signs with FB_APP_SECRET by default."""

    def _post(data, *, headers: dict | None = None, sign: bool = True):
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        hdrs = {"Content-Type": "application/json"}
        if sign:
            hdrs["X-Hub-Signature-256"] = sign256(body, app.config["FB_APP_SECRET"])
        hdrs.update(headers or {})
        resp = client.post("/webhooks/messenger", data=body, headers=hdrs)
        signals.flush_signals()  # the drain signal goes out from a background thread
        return resp

    return _post


@pytest.fixture
def deliver(post_webhook, jobs):
    """Post signed events and run the queues, as Meta + a worker would."""

    def _deliver(*items: dict, page_id: str = PAGE_ID):
        resp = post_webhook(payload(*items, page_id=page_id))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        jobs(("webhooks",))  # profile jobs ("default") run only in tests that start fakegraph
        return resp

    return _deliver


@pytest.fixture
def live_url(app):
    """The app served on a free local port (for commands that post over HTTP); the webhook URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/messenger"
    finally:
        server.shutdown()
        thread.join(timeout=5)
