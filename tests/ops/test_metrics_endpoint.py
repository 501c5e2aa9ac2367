"""GET /metrics: Prometheus text, numbers from Redis / DB / queues, restricted access."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app import db
from app.conversations.models import Message
from app.core import counters
from app.core.models import utcnow
from app.core.queues import enqueue, get_redis
from app.privacy.models import PrivacyRequest
from app.web import metrics
from app.webhooks.models import WebhookEvent

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def _sample(body: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)$"
    match = re.search(pattern, body, re.M)
    assert match, f"{name}{{{labels}}} missing"
    return float(match.group(1))


@pytest.fixture
def metrics_config(app):
    old = {k: app.config.get(k) for k in ("METRICS_TOKEN", "METRICS_ALLOW_NETS")}
    yield app.config
    app.config.update(old)


def test_exposition_has_every_family(client, conversation):
    now = utcnow()
    redis = get_redis()
    redis.set(counters.WEBHOOK_RECEIVED_KEY, 7)
    counters.incr(counters.WEBHOOK_REJECTED_KEY)
    counters.incr(counters.WEBHOOK_REJECTED_KEY)
    db.session.add_all(
        [
            WebhookEvent(payload="{}", status="pending", received_at=now - timedelta(seconds=90)),
            WebhookEvent(payload="{}", status="error"),
            Message(conversation=conversation, direction="out", text="a", status="failed"),
            Message(conversation=conversation, direction="out", text="b", status="read"),
            Message(conversation=conversation, direction="out", text="c", status="read"),
            Message(conversation=conversation, direction="in", text="d", status="received"),
            PrivacyRequest(
                request_type="erasure", status="pending", due_at=now - timedelta(days=1), confirmation_code="a"
            ),
            PrivacyRequest(request_type="access", status="complete", due_at=now, confirmation_code="b"),
        ]
    )
    db.session.commit()
    enqueue("json.loads", "[]", queue="outbound")

    resp = client.get("/metrics", environ_base=LOCAL)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    body = resp.get_data(as_text=True)
    assert _sample(body, "omnicrm_webhook_events_received_total") == 7
    assert _sample(body, "omnicrm_webhook_events_rejected_total") == 2
    assert 89 <= _sample(body, "omnicrm_webhook_processing_lag_seconds") <= 100
    assert _sample(body, "omnicrm_webhook_events_in_error") == 1
    assert _sample(body, "omnicrm_outbound_messages", 'status="read"') == 2
    assert _sample(body, "omnicrm_outbound_messages", 'status="failed"') == 1
    assert _sample(body, "omnicrm_outbound_messages", 'status="sent"') == 0
    assert _sample(body, "omnicrm_queue_jobs", 'queue="outbound",state="queued"') == 1
    assert _sample(body, "omnicrm_queue_jobs", 'queue="webhooks",state="queued"') == 0
    assert _sample(body, "omnicrm_privacy_requests", 'status="pending"') == 1
    assert _sample(body, "omnicrm_privacy_requests", 'status="complete"') == 1
    assert _sample(body, "omnicrm_privacy_requests_overdue") == 1
    assert _sample(body, "omnicrm_scrape_error", 'source="database"') == 0
    # every sample line belongs to a declared family (valid exposition)
    declared = set(re.findall(r"^# TYPE (\S+) (?:counter|gauge)$", body, re.M))
    for line in body.splitlines():
        if line and not line.startswith("#"):
            assert re.match(r"^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$", line), line
            assert line.split("{")[0].split(" ")[0] in declared


def test_remote_address_needs_the_token(client, metrics_config):
    metrics_config["METRICS_TOKEN"] = "scrape-secret-0123456789"
    assert client.get("/metrics", environ_base=REMOTE).status_code == 403
    bad = client.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 403
    ok = client.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer scrape-secret-0123456789"})
    assert ok.status_code == 200
    assert "omnicrm_queue_jobs" in ok.get_data(as_text=True)


def test_no_token_configured_means_networks_only(client, metrics_config):
    metrics_config["METRICS_TOKEN"] = ""
    assert client.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer "}).status_code == 403
    metrics_config["METRICS_ALLOW_NETS"] = "10.0.0.0/8, 203.0.113.0/24"
    assert client.get("/metrics", environ_base=REMOTE).status_code == 200
    assert client.get("/metrics", environ_base=LOCAL).status_code == 403  # loopback no longer listed


def test_bad_network_setting_refuses_instead_of_crashing(client, metrics_config):
    metrics_config["METRICS_ALLOW_NETS"] = "not-a-network"
    resp = client.get("/metrics", environ_base=LOCAL)
    assert resp.status_code == 403
    with pytest.raises(ValueError, match="METRICS_ALLOW_NETS"):
        metrics.parse_nets("not-a-network")


def test_metrics_is_not_behind_login_or_csrf(client):
    resp = client.get("/metrics", environ_base=LOCAL)
    assert resp.status_code == 200
    assert "/login" not in resp.headers.get("Location", "")


def test_allowed_ipv6_loopback_and_garbage_address():
    assert metrics.allowed("::1", None, "", "127.0.0.1/32,::1/128")
    assert not metrics.allowed("garbage", None, "", "0.0.0.0/0")
    assert not metrics.allowed(None, None, "", "0.0.0.0/0")
    assert metrics.allowed(None, "bearer tok", "tok", "")
