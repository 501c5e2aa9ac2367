"""Fixtures of the channel-health tests: a supported API version and a fast backfill pace."""

from __future__ import annotations

import pytest


@pytest.fixture
def channel(app, page, fakegraph, monkeypatch):
    """The `page` fixture against the fake Graph API, with a version far from its end of life."""
    monkeypatch.setitem(app.config, "GRAPH_API_VERSION", "v22.0")
    monkeypatch.setitem(app.config, "CHANNEL_BACKFILL_RATE", 0)  # no pacing: tests measure behaviour, not time
    monkeypatch.setitem(app.config, "CHANNEL_BACKOFF_SECONDS", 0.01)
    return page
