"""Webhook traffic shows up in /metrics: accepted and refused POSTs are counted."""

from __future__ import annotations

import json
import re

from app.webhooks import signals
from tests.webhooks.webhook_helpers import item, payload, sign256


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def test_received_and_rejected_are_counted(app, client, page):
    before = client.get("/metrics").get_data(as_text=True)
    received0 = _metric(before, "omnicrm_webhook_events_received_total")
    rejected0 = _metric(before, "omnicrm_webhook_events_rejected_total")
    body = json.dumps(payload(item(message={"mid": "m_metrics_1", "text": "hi"}))).encode()
    secret = app.config["FB_APP_SECRET"]
    ok = client.post(
        "/webhooks/messenger",
        data=body,
        headers={"X-Hub-Signature-256": sign256(body, secret), "Content-Type": "application/json"},
    )
    assert ok.status_code == 200
    bad = client.post("/webhooks/messenger", data=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert bad.status_code == 403
    garbage = b"not json"
    shape = client.post("/webhooks/messenger", data=garbage, headers={"X-Hub-Signature-256": sign256(garbage, secret)})
    assert shape.status_code == 400
    signals.flush_signals()  # counted by the background drain signal
    after = client.get("/metrics").get_data(as_text=True)
    assert _metric(after, "omnicrm_webhook_events_received_total") == received0 + 1
    assert _metric(after, "omnicrm_webhook_events_rejected_total") == rejected0 + 2
