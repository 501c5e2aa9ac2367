"""FakeGraph as a real HTTP server: control endpoint and signed webhook callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import pytest
import requests

from app.devtools.fakegraph import FakeGraph
from app.messenger.channel_client import ChannelGraphClient
from app.messenger.client import GraphClient, PermanentGraphError, RetryableGraphError, appsecret_proof

APP_SECRET = "webhook-secret"
APP_ID = "777000111"
PAGE_ID = "1122334455"
PSID = "9988776655443322"
TOKEN = "EAAGfakeToken0987654321"


class _Receiver:
    """A tiny local webhook endpoint collecting (headers, raw body) pairs."""

    def __init__(self, expected: int) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.done = threading.Event()
        self.expected = expected
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if len(receiver.received) >= receiver.expected:
                    receiver.done.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/webhooks/messenger"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph(app_secret=APP_SECRET, app_id=APP_ID, page_id=PAGE_ID, timeout_sleep=5) as fg:
        yield fg


def test_webhooks_echo_delivery_read_signed() -> None:
    with (
        _Receiver(expected=3) as receiver,
        FakeGraph(
            app_secret=APP_SECRET,
            app_id=APP_ID,
            page_id=PAGE_ID,
            webhook_url=receiver.url,
            webhook_gap=0.05,
        ) as fake,
    ):
        with GraphClient(fake.base_url, "v21.0", APP_SECRET, APP_ID, read_timeout=2) as client:
            mid = client.send_message(PAGE_ID, TOKEN, PSID, "hello there", metadata="omni:msg:7")
        assert receiver.done.wait(timeout=5), f"got {len(receiver.received)} webhooks"

    payloads = []
    for headers, body in receiver.received:
        expected_sig = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected_sig)
        payload = json.loads(body)
        assert payload["object"] == "page"
        [entry] = payload["entry"]
        assert entry["id"] == PAGE_ID
        assert isinstance(entry["time"], int)
        [event] = entry["messaging"]
        payloads.append(event)

    echo, delivery, read = payloads
    assert echo["sender"] == {"id": PAGE_ID}
    assert echo["recipient"] == {"id": PSID}
    assert echo["message"] == {
        "is_echo": True,
        "app_id": int(APP_ID),
        "metadata": "omni:msg:7",
        "mid": mid,
        "text": "hello there",
    }
    assert delivery["sender"] == {"id": PSID}
    assert delivery["recipient"] == {"id": PAGE_ID}
    assert delivery["delivery"]["mids"] == [mid]
    assert delivery["delivery"]["watermark"] >= echo["timestamp"]
    assert read["read"]["watermark"] >= delivery["delivery"]["watermark"]
    assert read["sender"] == {"id": PSID}


def test_me_messages_and_response_shape(fake: FakeGraph) -> None:
    resp = requests.post(
        f"{fake.base_url}/v21.0/me/messages",
        params={
            "access_token": TOKEN,
            "appsecret_proof": appsecret_proof(TOKEN, APP_SECRET),
        },
        json={
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"text": "x"},
        },
        timeout=5,
    )
    assert resp.status_code == 200
    data = resp.json()
    assert data["recipient_id"] == PSID
    assert data["message_id"].startswith("m_")
    assert fake.requests_log[-1]["json"]["message"] == {"text": "x"}


def test_bad_proof_returns_error_100(fake: FakeGraph) -> None:
    resp = requests.get(
        f"{fake.base_url}/v21.0/{PSID}",
        params={"access_token": TOKEN, "appsecret_proof": "nope"},
        timeout=5,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 100


def test_control_endpoint_switches(fake: FakeGraph) -> None:
    control = f"{fake.base_url}/_control"
    assert requests.post(control, json={"action": "fail_next", "code": 613, "count": 1}, timeout=5).ok
    assert requests.post(control, json={"action": "profile_error", "code": 2018218}, timeout=5).ok
    assert requests.post(control, json={"action": "bogus"}, timeout=5).status_code == 400

    with GraphClient(fake.base_url, "v21.0", APP_SECRET, read_timeout=0.5) as client:
        with pytest.raises(RetryableGraphError) as info:
            client.send_message(PAGE_ID, TOKEN, PSID, "x")
        assert info.value.code == 613
        with pytest.raises(PermanentGraphError) as perr:
            client.get_profile(PSID, TOKEN)
        assert getattr(perr.value, "code", None) == 2018218

        assert requests.post(
            control,
            json={"action": "timeout_next", "count": 1, "seconds": 3},
            timeout=5,
        ).ok
        with pytest.raises(RetryableGraphError):
            client.send_message(PAGE_ID, TOKEN, PSID, "x")

        assert requests.post(control, json={"action": "reset"}, timeout=5).ok
        assert fake.requests_log == []
        assert client.get_profile(PSID, TOKEN)["id"] == PSID


def test_delay_switch(fake: FakeGraph) -> None:
    fake.delay = 1.0
    with (
        GraphClient(fake.base_url, "v21.0", APP_SECRET, read_timeout=0.3) as client,
        pytest.raises(RetryableGraphError),
    ):
        client.send_message(PAGE_ID, TOKEN, PSID, "x")
    fake.delay = 0
    assert fake.delay == 0


def test_default_ids_for_pages_and_unknown_route(fake: FakeGraph) -> None:
    auth = {
        "access_token": TOKEN,
        "appsecret_proof": appsecret_proof(TOKEN, APP_SECRET),
    }
    data = requests.get(f"{fake.base_url}/v21.0/asid-9/ids_for_pages", params=auth, timeout=5).json()
    assert data["data"][0]["page"]["id"] == PAGE_ID
    resp = requests.get(f"{fake.base_url}/v21.0/a/b/c", params=auth, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 100


def test_messenger_profile_is_stored_per_page_token_and_checked(fake: FakeGraph) -> None:
    seed = {
        "persistent_menu": [
            {"locale": "default", "call_to_actions": [{"type": "postback", "title": "Hi", "payload": "HI"}]}
        ]
    }
    control = f"{fake.base_url}/_control"
    assert requests.post(control, json={"action": "messenger_profile", "token": TOKEN, "profile": seed}, timeout=5).ok
    with ChannelGraphClient(fake.base_url, "v21.0", APP_SECRET) as client:
        assert client.messenger_profile(TOKEN, "persistent_menu") == [seed]
        assert client.messenger_profile("EAAGanotherPageToken1", "persistent_menu") == []  # another page
        nested = [
            {"locale": "default", "call_to_actions": [{"type": "nested", "title": "More", "call_to_actions": []}]}
        ]
        with pytest.raises(PermanentGraphError) as info:
            client.set_messenger_profile(TOKEN, {"persistent_menu": nested})
        assert "nested menus are not supported" in str(info.value)
        too_many = [
            {"locale": "default", "call_to_actions": [{"question": f"Q{i}", "payload": str(i)} for i in range(5)]}
        ]
        with pytest.raises(PermanentGraphError):
            client.set_messenger_profile(TOKEN, {"ice_breakers": too_many}, platform="instagram")
        ok = [{"locale": "default", "call_to_actions": [{"question": "Q", "payload": "P"}]}]
        assert client.set_messenger_profile(TOKEN, {"platform": "instagram", "ice_breakers": ok}, platform="instagram")
        assert client.messenger_profile(TOKEN, "ice_breakers", platform="instagram") == ok
        assert fake.messenger_profile_of(TOKEN) == seed  # the Messenger profile is untouched
