"""Meta's data-deletion callback: signed_request verification, PSID resolution, status page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from app import db
from app.privacy import decisions, requests
from app.privacy.models import PrivacyRequest

URL = "/privacy/facebook/data-deletion"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: dict | bytes | str, secret: str, *, sig: bytes | None = None) -> str:
    if isinstance(payload, dict):
        raw = json.dumps(payload).encode()
    elif isinstance(payload, str):
        raw = payload.encode()
    else:
        raw = payload
    body = b64(raw)
    mac = sig if sig is not None else hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{b64(mac)}.{body}"


def good_payload(user_id: str = "55501", **extra) -> dict:
    return {"algorithm": "HMAC-SHA256", "issued_at": int(time.time()), "user_id": user_id, **extra}


@pytest.fixture
def secret(app) -> str:
    return app.config["FB_APP_SECRET"]


def test_good_request_creates_erasure_for_resolved_contact(client, app, secret, fakegraph, contact):
    fakegraph.control(
        {
            "action": "set_ids_for_pages",
            "asid": "55501",
            "data": [{"id": contact.psid, "page": {"id": contact.page.fb_page_id, "name": "Test Page"}}],
        }
    )
    resp = client.post(URL, data={"signed_request": signed(good_payload(), secret)})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    code = body["confirmation_code"]
    assert body["url"] == f"{app.config['PUBLIC_BASE_URL']}/privacy/deletion/{code}"
    req = db.session.query(PrivacyRequest).one()
    assert (req.request_type, req.source, req.status, req.contact_id) == (
        "erasure",
        "meta_callback",
        "pending",
        contact.id,
    )
    assert req.requested_by_id is None
    assert req.subject_ref
    # Meta retries the same callback: same code, no second request
    again = client.post(URL, data={"signed_request": signed(good_payload(), secret)})
    assert again.get_json()["confirmation_code"] == code
    assert db.session.query(PrivacyRequest).count() == 1
    # the public status page: status and dates only
    html = client.get(f"/privacy/deletion/{code}")
    text = html.get_data(as_text=True)
    assert html.status_code == 200
    assert "pending" in text
    assert "Ada" not in text
    assert contact.psid not in text
    data = client.get(f"/privacy/deletion/{code}", headers={"Accept": "application/json"}).get_json()
    assert data["status"] == "pending"
    assert set(data) == {
        "confirmation_code",
        "status",
        "received_at",
        "due_at",
        "completed_at",
    }


def test_callback_then_officer_approves_and_status_completes(client, app, secret, fakegraph, contact, jobs):
    fakegraph.control(
        {"action": "set_ids_for_pages", "asid": "777", "data": [{"id": contact.psid, "page": {"id": "1234567890"}}]}
    )
    code = client.post(URL, data={"signed_request": signed(good_payload("777"), secret)}).get_json()[
        "confirmation_code"
    ]
    req = db.session.query(PrivacyRequest).one()
    decisions.approve(req, app.appbuilder.sm.find_user(username="privacy").id)
    jobs(("privacy",))
    data = client.get(f"/privacy/deletion/{code}", headers={"Accept": "application/json"}).get_json()
    assert data["status"] == "complete"
    assert data["completed_at"]


def test_no_matching_data_is_recorded(client, secret, fakegraph, page):
    resp = client.post(URL, data={"signed_request": signed(good_payload("424242"), secret)})
    assert resp.status_code == 200
    req = db.session.query(PrivacyRequest).one()
    assert (req.status, req.result, req.contact_id) == ("complete", "no matching data", None)
    status = client.get(
        f"/privacy/deletion/{resp.get_json()['confirmation_code']}", headers={"Accept": "application/json"}
    )
    assert status.get_json()["status"] == "complete"


def test_graph_failure_still_answers(client, secret, fakegraph, contact):
    fakegraph.fail_next(code=None, http_status=500, count=5)
    resp = client.post(URL, data={"signed_request": signed(good_payload("8080"), secret)})
    assert resp.status_code == 200
    assert resp.get_json()["confirmation_code"]
    assert db.session.query(PrivacyRequest).one().result == "no matching data"


def test_lowercase_algorithm_accepted(client, secret, fakegraph, page):
    resp = client.post(URL, data={"signed_request": signed(good_payload(algorithm="hmac-sha256"), secret)})
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: None, "missing"),
        (lambda s: "", "missing"),
        (lambda s: "nodothere", "two base64url parts"),
        (lambda s: "a.b.c", "two base64url parts"),
        (lambda s: "!!!." + b64(b"{}"), "base64url"),
        (lambda s: signed(b"\xff\xfe not json", s), "not JSON"),
        (lambda s: signed("[1, 2]", s), "JSON object"),
        (lambda s: signed(good_payload(algorithm="HMAC-SHA1"), s), "algorithm"),
        (lambda s: signed({"issued_at": int(time.time()), "user_id": "1"}, s), "algorithm"),
        (lambda s: signed(good_payload(), "wrong-secret"), "signature"),
        (lambda s: signed(good_payload(), s, sig=b"short"), "signature"),
        (lambda s: signed(good_payload(issued_at=int(time.time()) - 3 * 86400), s), "stale"),
        (lambda s: signed(good_payload(issued_at=int(time.time()) + 3600), s), "future"),
        (lambda s: signed(good_payload(issued_at="yesterday"), s), "timestamp"),
        (lambda s: signed({"algorithm": "HMAC-SHA256", "issued_at": int(time.time())}, s), "user_id"),
        (lambda s: signed(good_payload(user_id="1; DROP TABLE"), s), "user_id"),
        (lambda s: signed(good_payload(user_id=""), s), "user_id"),
        (lambda s: "A" * 9000 + "." + "B", "too long"),
    ],
)
def test_bad_signed_requests_are_400(client, secret, make, reason):
    value = make(secret)
    data = {} if value is None else {"signed_request": value}
    resp = client.post(URL, data=data)
    assert resp.status_code == 400
    assert reason in resp.get_json()["error"]
    assert db.session.query(PrivacyRequest).count() == 0


def test_tampered_payload_is_400(client, secret):
    good = signed(good_payload("1"), secret)
    sig, _ = good.split(".")
    forged = f"{sig}.{b64(json.dumps(good_payload('2')).encode())}"
    resp = client.post(URL, data={"signed_request": forged})
    assert resp.status_code == 400
    assert "signature" in resp.get_json()["error"]


def test_unknown_code_is_404(client):
    assert client.get("/privacy/deletion/doesnotexist").status_code == 404
    resp = client.get("/privacy/deletion/nope", headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert resp.get_json()["error"]
    assert client.get("/privacy/deletion/%3Cscript%3E").status_code == 404


# --------------------------------------------------------------------------- hostile input


def test_signature_is_checked_before_the_payload_is_parsed(client, secret):
    deep = b"[" * 6000  # 8 KB of nesting: once a RecursionError (500) before the HMAC was checked
    forged = f"{b64(b'x' * 32)}.{b64(deep)}"
    assert len(forged) < 8192
    resp = client.post(URL, data={"signed_request": forged})
    assert resp.status_code == 400
    assert "signature" in resp.get_json()["error"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: signed(b"[" * 6000, s), "not JSON"),
        (lambda s: signed(b"[{" * 3000, s), "not JSON"),
        (lambda s: signed(good_payload(), s).split(".")[0] + ".", "base64url"),
        (lambda s: "." + signed(good_payload(), s).split(".")[1], "base64url"),
        (lambda s: signed(good_payload(), s).split(".")[0] + ".!!", "base64url"),
        (lambda s: signed(good_payload(), s) + ".", "two base64url parts"),
        (lambda s: signed(good_payload(algorithm="none"), s), "algorithm"),
        (lambda s: signed(good_payload(algorithm=["HMAC-SHA256"]), s), "algorithm"),
        (lambda s: signed('"HMAC-SHA256"', s), "JSON object"),
        (lambda s: signed("null", s), "JSON object"),
        (lambda s: signed("123", s), "JSON object"),
    ],
)
def test_hostile_signed_requests_are_400(client, secret, make, reason):
    resp = client.post(URL, data={"signed_request": make(secret)})
    assert resp.status_code == 400
    assert reason in resp.get_json()["error"]
    assert db.session.query(PrivacyRequest).count() == 0


def test_deeply_nested_json_body_is_400(client):
    resp = client.post(URL, data=b"[" * 100_000, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["error"]
    resp = client.post(URL, json={"signed_request": 5})
    assert resp.status_code == 400
    assert "missing" in resp.get_json()["error"]


def test_status_code_lookup_is_exact(client, contact):
    code = "5" + "a" * 23
    first = requests.create_request("erasure", contact, source="meta_callback", code=code)
    sibling = requests.create_request("erasure", contact, source="meta_callback", code=f"{code}-1")
    assert (first.confirmation_code, sibling.confirmation_code) == (code, f"{code}-1")
    accept = {"Accept": "application/json"}
    assert client.get(f"/privacy/deletion/{code}", headers=accept).status_code == 200
    assert client.get(f"/privacy/deletion/{code}-1", headers=accept).get_json()["confirmation_code"] == code
    probes = (
        "5" + "_" * 23,
        "_" * 24,
        "5" + "a" * 22 + "_",
        "5%25",
        "%25",
        "5" + "A" * 23,
        "5" + "a" * 22,
        code + "-_",
    )
    for probe in probes:
        resp = client.get(f"/privacy/deletion/{probe}", headers=accept)
        assert resp.status_code == 404, probe
        assert resp.get_json() == {"error": "unknown confirmation code"}
    assert client.get("/privacy/deletion/5" + "_" * 23).status_code == 404  # the HTML page too
