"""Fixtures for the media tests: the fake Graph's CDN allowed as a fetch host, and delivery of
signed webhook bodies through the real queues."""

from __future__ import annotations

import pytest

from tests.helpers import post_signed_webhook
from tests.webhooks.webhook_helpers import payload


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
        resp = post_signed_webhook(client, body if body is not None else payload(*items))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        jobs(("webhooks",))
        return resp

    return _deliver
