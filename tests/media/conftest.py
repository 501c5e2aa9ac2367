"""Fixtures for the media tests: the fake Graph's CDN allowed as a fetch host, and delivery of
signed webhook bodies through the real queues."""

from __future__ import annotations

import json

import pytest

from app.webhooks import signals
from tests.webhooks.webhook_helpers import payload, sign256


@pytest.fixture
def cdn(app, fakegraph):
    """The fake Graph's `/cdn/` URLs are fetchable: its exact host:port is listed."""
    host_port = fakegraph.base_url.split("://", 1)[1]
    old = app.config["MEDIA_FETCH_HOSTS"]
    app.config["MEDIA_FETCH_HOSTS"] = f".fbcdn.net,{host_port}"
    try:
        yield fakegraph
    finally:
        app.config["MEDIA_FETCH_HOSTS"] = old


@pytest.fixture
def deliver(app, client, jobs):
    """Post signed Messenger items (or a whole body) to the webhook and apply them."""

    def _deliver(*items: dict, body: dict | None = None):
        raw = json.dumps(body if body is not None else payload(*items)).encode()
        resp = client.post(
            "/webhooks/messenger",
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign256(raw, app.config["FB_APP_SECRET"]),
            },
        )
        signals.flush_signals()
        assert resp.status_code == 200, resp.get_data(as_text=True)
        jobs(("webhooks",))
        return resp

    return _deliver
