"""Request size limits: MAX_CONTENT_LENGTH (413 everywhere), form memory and parts, the webhook's 1 MiB."""

from __future__ import annotations

import io
import json

import config
from app import db
from app.privacy.models import PrivacyRequest
from app.webhooks import ingest, signals
from app.webhooks.models import WebhookEvent
from tests.helpers import csrf_token_from

MiB = 1024 * 1024
CALLBACK = "/privacy/facebook/data-deletion"


def test_default_limit_is_4_mib_and_env_configurable(app, monkeypatch):
    assert app.config["MAX_CONTENT_LENGTH"] == 4 * MiB
    assert app.config["MAX_FORM_MEMORY_SIZE"] == 512 * 1024
    assert app.config["MAX_FORM_PARTS"] == 1000
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "1234567")
    assert config.build_config()["MAX_CONTENT_LENGTH"] == 1234567


def test_anonymous_30_mib_to_deletion_callback_is_413_json(client):
    body = b"signed_request=" + b"a" * (30 * MiB)
    resp = client.post(CALLBACK, data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413
    assert resp.get_json() == {"error": f"request body too large (limit {4 * MiB} bytes)", "limit": 4 * MiB}
    assert db.session.query(PrivacyRequest).count() == 0


def test_limit_is_exact(client):
    head = b"signed_request="
    at_limit = head + b"a" * (4 * MiB - len(head))
    resp = client.post(CALLBACK, data=at_limit, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400
    assert "too long" in resp.get_json()["error"]
    resp = client.post(CALLBACK, data=at_limit + b"a", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413


def test_chunked_body_beyond_the_limit_is_413(client):
    stream = io.BytesIO(b"signed_request=" + b"a" * (5 * MiB))
    resp = client.post(
        CALLBACK,
        input_stream=stream,
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413
    assert "too large" in resp.get_json()["error"]


def test_multipart_file_on_login_is_413_html(client):
    token = csrf_token_from(client.get("/login/").get_data(as_text=True))
    resp = client.post(
        "/login/",
        data={"username": "admin", "password": "x", "csrf_token": token, "f": (io.BytesIO(b"x" * (5 * MiB)), "a.bin")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 413
    assert resp.mimetype == "text/html"
    assert "Request too large" in resp.get_data(as_text=True)


def test_multipart_field_beyond_form_memory_is_413(client):
    resp = client.post(
        "/login/", data={"username": "a" * (600 * 1024), "password": "x"}, content_type="multipart/form-data"
    )
    assert resp.status_code == 413


def test_too_many_multipart_parts_is_413(client):
    data = {f"f{i}": "x" for i in range(1001)}
    resp = client.post("/login/", data=data, content_type="multipart/form-data")
    assert resp.status_code == 413


def test_api_login_and_api_views_answer_413_json_not_500(client, api, contact):
    big = {"username": "admin", "password": "x" * (5 * MiB), "provider": "db"}
    resp = client.post("/api/v1/security/login", json=big)
    assert resp.status_code == 413
    assert resp.get_json()["limit"] == 4 * MiB
    headers = api("admin")
    resp = client.put(f"/api/v1/contact/{contact.id}", json={"notes": "n" * (5 * MiB)}, headers=headers)
    assert resp.status_code == 413
    assert "too large" in resp.get_json()["error"]
    stream = io.BytesIO(json.dumps({"notes": "n" * (5 * MiB)}).encode())
    resp = client.put(
        f"/api/v1/contact/{contact.id}",
        input_stream=stream,
        content_type="application/json",
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413


def _webhook(client, body: bytes):
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": ingest.sign(body, "dev-app-secret")}
    resp = client.post("/webhooks/messenger", data=body, headers=headers)
    signals.flush_signals()
    return resp


def test_webhook_fast_path_keeps_its_1_mib_cap(client, page):
    resp = _webhook(client, b" " * (MiB + 1))
    assert resp.status_code == 413
    assert resp.get_json() == {"error": "body too large"}
    resp = _webhook(client, b" " * MiB)  # at the cap: read, verified, then refused for its shape
    assert resp.status_code == 400
    assert "not JSON" in resp.get_json()["error"]
    assert db.session.query(WebhookEvent).count() == 0


def test_webhook_chunked_body_is_cut_at_1_mib(client, page):
    body = b" " * (2 * MiB)
    resp = client.post(
        "/webhooks/messenger",
        input_stream=io.BytesIO(body),
        headers={
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
            "X-Hub-Signature-256": ingest.sign(body, "dev-app-secret"),
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413


def test_webhook_honours_a_lower_global_limit(app, client, page):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        resp = _webhook(client, b" " * 1001)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 4 * MiB
    assert resp.status_code == 413
