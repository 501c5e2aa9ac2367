"""The HTTP side: verification handshake, signatures, shapes, durability when Redis or the DB fail."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text, update

from app import db
from app.conversations.models import Message
from app.core.crypto import keyed_hash
from app.core.models import utcnow
from app.core.queues import get_queue
from app.webhooks import signals, tasks
from app.webhooks.models import EventStatus, WebhookEvent
from app.webhooks.routes import receive
from tests.helpers import redis_unreachable
from tests.webhooks.webhook_helpers import PAGE_ID, PSID, item, payload, sign1, sign256


def _events() -> list[WebhookEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


# --------------------------------------------------------------------------- GET verification


def test_verification_echoes_challenge_as_text(client, app):
    resp = client.get(
        "/webhooks/messenger",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": app.config["FB_VERIFY_TOKEN"],
            "hub.challenge": "1158201444",
        },
    )
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    assert resp.get_data(as_text=True) == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "TOKEN", "hub.challenge": "1"},
        {"hub.challenge": "1"},
        {},
    ],
)
def test_verification_refuses_wrong_token_or_mode(client, app, params):
    params = {k: (app.config["FB_VERIFY_TOKEN"] if v == "TOKEN" else v) for k, v in params.items()}
    resp = client.get("/webhooks/messenger", query_string=params)
    assert resp.status_code == 403
    assert "1" not in resp.get_data(as_text=True)


# --------------------------------------------------------------------------- POST


def test_signed_event_is_stored_encrypted_and_queued(post_webhook, page):
    body = payload(item(message={"mid": "m_1", "text": "hello, world!"}))
    resp = post_webhook(body)
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "EVENT_RECEIVED"
    [event] = _events()
    assert event.status == EventStatus.PENDING
    assert json.loads(event.payload) == body
    assert event.page_fb_id == PAGE_ID
    assert event.psid_hashes == f"|{keyed_hash(PSID)}|"
    assert event.summary == "message:1"
    raw = db.session.execute(text("SELECT payload FROM webhook_event")).scalar_one()
    assert "hello" not in raw
    assert PSID not in raw
    assert get_queue("webhooks").job_ids == [f"webhook-drain-{event.id}"]  # one drain job per burst


def test_webhook_route_does_not_touch_the_session(post_webhook, page, client):
    client.set_cookie("session", "garbage-or-real-session-cookie")
    resp = post_webhook(payload(item(message={"mid": "m_s", "text": "hi"})))
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers
    assert "Cookie" not in resp.headers.get("Vary", "")  # Flask adds this when the session is read


def test_fast_path_answers_with_security_headers_and_request_id(post_webhook, page):
    resp = post_webhook(payload(item(message={"mid": "m_h", "text": "hi"})), headers={"X-Request-ID": "req-42"})
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Request-ID"] == "req-42"
    refused = post_webhook(b"{}", sign=False)
    assert refused.status_code == 403
    assert refused.is_json
    assert refused.get_json() == {"error": "missing or invalid signature"}
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert refused.headers["X-Request-ID"]


def test_flask_view_gives_the_same_answers_as_the_fast_path(app, page):
    """The route also works where the WSGI fast path is not installed (same handler)."""

    body = json.dumps(payload(item(message={"mid": "m_v", "text": "hi"}))).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign256(body, app.config["FB_APP_SECRET"])}
    with app.test_request_context("/webhooks/messenger", method="POST", data=body, headers=headers):
        resp = app.make_response(receive())
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "EVENT_RECEIVED")
    with app.test_request_context("/webhooks/messenger", method="POST", data=b"{}"):
        resp = app.make_response(receive())
    assert (resp.status_code, resp.get_json()) == (403, {"error": "missing or invalid signature"})
    assert [e.summary for e in _events()] == ["message:1"]


def test_malformed_content_length_is_not_a_500(app, page):
    body = json.dumps(payload(item(message={"mid": "m_cl", "text": "hi"}))).encode()
    environ = {"CONTENT_LENGTH": "twelve", "HTTP_X_HUB_SIGNATURE_256": sign256(body, app.config["FB_APP_SECRET"])}
    resp = app.test_client().post("/webhooks/messenger", data=body, environ_overrides=environ)
    # Werkzeug reads no body for an unparsable Content-Length: the signature cannot match.
    assert resp.status_code == 403
    assert resp.get_json() == {"error": "missing or invalid signature"}
    assert _events() == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha256=nothex"},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature": "sha1=" + "0" * 40},
    ],
)
def test_missing_or_bad_signature_is_403_and_nothing_stored(post_webhook, page, headers):
    resp = post_webhook(payload(item(message={"mid": "m_1", "text": "hi"})), headers=headers, sign=False)
    assert resp.status_code == 403
    assert _events() == []
    assert get_queue("webhooks").count == 0


def test_signature_over_other_body_is_refused(app, client, page):
    body = json.dumps(payload(item(message={"mid": "m_1", "text": "hi"}))).encode()
    other = body.replace(b"hi", b"ho")
    resp = client.post(
        "/webhooks/messenger", data=other, headers={"X-Hub-Signature-256": sign256(body, app.config["FB_APP_SECRET"])}
    )
    assert resp.status_code == 403
    assert _events() == []


def test_sha1_signature_fallback_is_accepted(app, client, page):
    body = json.dumps(payload(item(message={"mid": "m_1", "text": "hi"}))).encode()
    resp = client.post(
        "/webhooks/messenger", data=body, headers={"X-Hub-Signature": sign1(body, app.config["FB_APP_SECRET"])}
    )
    assert resp.status_code == 200
    assert len(_events()) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"object": 5, "entry": []}', '"object"'),
        (b'{"entry": []}', '"object"'),
        (b'{"object": "page"}', "entry"),
        (b'{"object": "page", "entry": [1]}', "entry"),
        (b'{"object": "page", "entry": [{"id": "1", "messaging": {"a": 1}}]}', "messaging"),
        (b"[" * 100000, "not JSON"),
    ],
)
def test_bad_shape_is_400_with_reason(post_webhook, page, body, reason):
    resp = post_webhook(body)
    assert resp.status_code == 400
    assert reason in resp.get_json()["error"]
    assert _events() == []


def test_redis_down_still_acknowledges_then_sweeper_queues(app, post_webhook, page, jobs):
    with redis_unreachable(app):
        resp = post_webhook(payload(item(message={"mid": "m_redis", "text": "while redis is down"})))
        assert resp.status_code == 200
    [event] = _events()
    assert event.status == EventStatus.PENDING
    assert get_queue("webhooks").count == 0

    assert signals.sweep_pending() == 0  # too young: a job may still be on its way
    db.session.execute(update(WebhookEvent).values(received_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    assert tasks.sweep_pending_events() == 1  # the cron job's entry point
    assert signals.sweep_pending(older_than_seconds=0) == 0  # already queued: not twice
    jobs(("webhooks",))
    [event] = _events()
    assert event.status == EventStatus.PROCESSED
    assert db.session.scalar(select(func.count(Message.id))) == 1


@pytest.mark.parametrize("how", ["unreachable", "schema missing"])
def test_database_error_is_503_and_nothing_stored(app, post_webhook, page, monkeypatch, tmp_path, how):
    """Real failures: the ingestion engine points at a closed port, or at a database without
    the table (so the INSERT itself fails)."""

    postgres = db.engine.dialect.name == "postgresql"
    if how == "unreachable":
        url = (
            "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
            if postgres
            else "sqlite:////nonexistent-dir/omnicrm.db"
        )
    else:
        url = db.engine.url.set(database="postgres") if postgres else f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setitem(app.extensions, "omnicrm_webhook_engine", create_engine(url))
    resp = post_webhook(payload(item(message={"mid": "m_db", "text": "hi"})))
    monkeypatch.undo()
    assert resp.status_code == 503
    assert resp.get_json() == {"error": "temporarily unavailable"}
    assert _events() == []
    assert get_queue("webhooks").count == 0


def test_multi_entry_batch_summary_and_hashes(post_webhook, page):
    body = {
        "object": "page",
        "entry": [
            {"id": PAGE_ID, "time": 1, "messaging": [item("111", message={"mid": "m_a", "text": "a"})]},
            {
                "id": PAGE_ID,
                "time": 2,
                "messaging": [item("222", read={"watermark": 5}), item("111", delivery={"watermark": 5})],
            },
            {"id": PAGE_ID, "time": 3, "standby": [{"sender": {"id": "333"}}]},
        ],
    }
    assert post_webhook(body).status_code == 200
    [event] = _events()
    assert event.summary == "delivery:1,message:1,read:1,unknown:1"
    assert f"|{keyed_hash('111')}|" in event.psid_hashes
    assert f"|{keyed_hash('222')}|" in event.psid_hashes
    assert keyed_hash(PAGE_ID) not in event.psid_hashes
