"""Request handling of the fake Graph API: routing, injected failures, the Graph endpoints,
and the echo / delivery / read webhooks that follow a send.

`GraphHandlers` is a mixin of `FakeGraph` (server.py), which owns the state it reads: the
lock, the switches, the logs and the settings below.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.devtools.fakegraph.attachments import AttachmentHandlers
from app.devtools.fakegraph.cdn import CdnAnswer, CdnHandlers
from app.devtools.fakegraph.channels import ChannelHandlers
from app.devtools.fakegraph.common import default_profile, error_body, json_response, now_ms, sign_body
from app.devtools.fakegraph.instagram import InstagramGraph, wants_instagram_profile
from app.devtools.fakegraph.profile import MessengerProfileGraph

logger = logging.getLogger(__name__)


class GraphHandlers(ChannelHandlers, InstagramGraph, MessengerProfileGraph, CdnHandlers, AttachmentHandlers):
    """The Graph endpoints and webhook emission; state lives in `FakeGraph`."""

    app_secret: str
    app_id: str
    page_id: str
    webhook_url: str | None
    webhook_gap: float
    timeout_sleep: float
    profiles: dict[str, dict[str, Any]]
    ids_for_pages_map: dict[str, list[dict[str, Any]]]
    requests_log: list[dict[str, Any]]
    webhook_log: list[dict[str, Any]]
    _lock: threading.RLock
    _stopping: threading.Event
    _failures: list[dict[str, Any]]
    _delay: float
    _timeouts: int
    _timeout_seconds: float | None
    _profile_error: dict[str, Any] | None

    def control(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a JSON control command (implemented by `FakeGraph`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ request handling

    def _take_injected(self, path: str = "", sender_action: bool = False) -> tuple[float, float, dict[str, Any] | None]:
        """Consume one timeout / failure switch; returns (delay, hang_seconds, failure).

        A failure set for a path only fires on a call to that path. Sender actions (best effort,
        sent by merely opening a conversation) never take a failure meant for the next send, unless
        it was set with ``sender_actions=True``."""
        with self._lock:
            hang = 0.0
            if self._timeouts > 0:
                self._timeouts -= 1
                hang = self._timeout_seconds if self._timeout_seconds is not None else self.timeout_sleep
            eligible = [f for f in self._failures if f.get("sender_actions") or not sender_action]
            failure = next((f for f in eligible if not f.get("path") or path.endswith(f["path"])), None)
            if failure is not None:
                failure["count"] -= 1
                if failure["count"] <= 0:
                    self._failures.remove(failure)
            return self._delay, hang, failure

    def _check_proof(self, query: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            secret = self.app_secret
        token = query.get("access_token")
        if not token:
            return 400, error_body(2500, "An active access token must be used to query information.")
        if secret:
            expected = hmac.new(secret.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, query.get("appsecret_proof", "")):
                return 400, error_body(
                    100,
                    "Invalid appsecret_proof provided in the API argument",
                    error_type="GraphMethodException",
                )
        return None

    def handle(self, method: str, raw_path: str, body: bytes, content_type: str = "") -> tuple[int, str, bytes]:
        """Route one request; returns (status, content type, body)."""
        split = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = [p for p in split.path.split("/") if p]

        if parts == ["_control"] and method == "POST":
            try:
                result = self.control(json.loads(body or b"{}"))
            except (ValueError, TypeError, KeyError) as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(200, result)
        if parts == ["_requests"] and method == "GET":
            with self._lock:
                return json_response(
                    200,
                    {
                        "requests": list(self.requests_log),
                        "webhooks": list(self.webhook_log),
                        "uploads": list(self.attachment_uploads),
                        "sender_actions": list(self.sender_actions),
                    },
                )

        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with self._lock:
            self.requests_log.append(
                {
                    "method": method,
                    "path": split.path,
                    "query": query,
                    "json": parsed,
                    "time": time.time(),
                }
            )

        is_action = isinstance(parsed, dict) and "sender_action" in parsed
        delay, hang, failure = self._take_injected(split.path, sender_action=is_action)
        if delay:
            self._stopping.wait(delay)
        if hang:
            self._stopping.wait(hang)
            return json_response(504, error_body(2, "Timed out (injected)"))
        if failure is not None:
            if failure["raw_body"] is not None:
                return (
                    failure["http_status"],
                    "text/html",
                    failure["raw_body"].encode("utf-8"),
                )
            return json_response(
                failure["http_status"],
                error_body(failure["code"], failure["message"], failure["subcode"]),
            )

        bad_auth = self._check_proof(query)
        if bad_auth is not None:
            return json_response(*bad_auth)
        routed = self.channel_route(method, parts, query)  # debug_token, subscribed_apps, conversations
        if routed is None:
            routed = self.profile_route(method, parts, query, parsed)  # /me/messenger_profile
        if routed is not None:
            return routed

        if method == "POST" and len(parts) == 3 and parts[2] in ("messages", "message_attachments"):
            return self._post_page_edge(parts[1], parts[2], parsed, body, content_type)
        if method == "GET" and len(parts) == 3 and parts[2] == "ids_for_pages":
            return self._ids_for_pages(parts[1])
        if method == "GET" and len(parts) == 2:
            return self._profile(parts[1], query)
        return json_response(
            400,
            error_body(
                100,
                f"Unsupported {method.lower()} request.",
                error_type="GraphMethodException",
            ),
        )

    def _post_page_edge(
        self, page_id: str, edge: str, parsed: Any, body: bytes, content_type: str
    ) -> tuple[int, str, bytes]:
        """`/{page-id}/message_attachments` (upload) or `/{page-id}/messages` (send, sender action)."""
        if edge == "message_attachments":
            return self.upload_attachment(page_id, content_type, body)
        if isinstance(parsed, dict) and "sender_action" in parsed:
            return self.sender_action(page_id, parsed)
        return self._send(page_id, parsed)

    def _send(self, page_id: str, payload: Any) -> tuple[int, str, bytes]:
        if not isinstance(payload, dict):
            return json_response(
                400,
                error_body(100, "(#100) Invalid JSON body", error_type="GraphMethodException"),
            )
        psid = (payload.get("recipient") or {}).get("id")
        message = payload.get("message") or {}
        if not psid:
            return json_response(400, error_body(100, "(#100) The parameter recipient is required"))
        if not (message.get("text") or message.get("attachment")):
            return json_response(400, error_body(100, "(#100) Must send either message or state"))
        if payload.get("messaging_type") == "MESSAGE_TAG" and not payload.get("tag"):
            return json_response(400, error_body(100, "(#100) Tag is required for MESSAGE_TAG"))
        refused = self.unknown_attachment(message)
        if refused is not None:
            return refused
        mid = "m_" + uuid.uuid4().hex
        with self._lock:
            webhook_url = self.webhook_url
            resolved_page = page_id if page_id != "me" else (self.page_id or "0")
        ig_id = self.instagram_account_of(str(psid))
        if webhook_url and ig_id:  # Instagram Direct: its own webhook shapes
            self.start_instagram_webhooks(webhook_url, ig_id, str(psid), mid, message)
        elif webhook_url:
            threading.Thread(
                target=self._emit_webhooks,
                args=(webhook_url, resolved_page, str(psid), mid, message),
                name="fakegraph-webhooks",
                daemon=True,
            ).start()
        return json_response(200, {"recipient_id": str(psid), "message_id": mid})

    def _profile(self, psid: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        with self._lock:
            err = self._profile_error
            profile = dict(self.profiles.get(psid) or default_profile(psid))
        if err is not None:
            return json_response(
                err["http_status"],
                error_body(err["code"], err["message"], err["subcode"]),
            )
        profile.setdefault("id", psid)
        fields = [f for f in query.get("fields", "").split(",") if f]
        if wants_instagram_profile(fields):
            return json_response(200, self.instagram_profile(psid, fields))
        if fields:
            profile = {k: v for k, v in profile.items() if k in fields or k == "id"}
        return json_response(200, profile)

    def _ids_for_pages(self, asid: str) -> tuple[int, str, bytes]:
        with self._lock:
            data = self.ids_for_pages_map.get(asid)
            page_id = self.page_id or "1234567890"
        if data is None:
            data = [{"id": f"psid-{asid}", "page": {"id": page_id, "name": "Fake Page"}}]
        return json_response(200, {"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}})

    # ------------------------------------------------------------------ webhooks

    def _emit_webhooks(self, url: str, page_id: str, psid: str, mid: str, message: dict[str, Any]) -> None:
        """Echo, then delivery, then read — the order Meta usually reports them in."""
        with self._lock:
            secret = self.app_secret
            app_id = self.app_id
            gap = self.webhook_gap
        echo: dict[str, Any] = {
            "is_echo": True,
            "app_id": int(app_id) if app_id.isdigit() else app_id,
            "mid": mid,
        }
        if message.get("metadata") is not None:
            echo["metadata"] = message["metadata"]
        if message.get("text") is not None:
            echo["text"] = message["text"]
        if message.get("attachment"):
            echo["attachments"] = [message["attachment"]]
        events = [
            {
                "sender": {"id": page_id},
                "recipient": {"id": psid},
                "timestamp": now_ms(),
                "message": echo,
            },
            None,  # delivery, built when sent so its watermark is "now"
            None,  # read
        ]
        for index, event in enumerate(events):
            if index and self._stopping.wait(gap):
                return
            now = now_ms()
            if index == 1:
                event = {
                    "sender": {"id": psid},
                    "recipient": {"id": page_id},
                    "timestamp": now,
                    "delivery": {"mids": [mid], "watermark": now},
                }
            elif index == 2:
                event = {
                    "sender": {"id": psid},
                    "recipient": {"id": page_id},
                    "timestamp": now,
                    "read": {"watermark": now},
                }
            payload = {
                "object": "page",
                "entry": [{"id": page_id, "time": now, "messaging": [event]}],
            }
            self._post_webhook(url, payload, secret)

    def _post_webhook(self, url: str, payload: dict[str, Any], secret: str) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Hub-Signature-256"] = sign_body(body, secret)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) set by us
        status: int | None
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            status = None
            logger.warning("fake graph webhook post failed: %s", type(exc).__name__)
        with self._lock:
            self.webhook_log.append({"payload": payload, "status": status, "time": time.time()})


class HttpAdapter(BaseHTTPRequestHandler):
    """Thin adapter from http.server to FakeGraph.handle."""

    fake: GraphHandlers
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: with Nagle on, a keep-alive client's delayed ACK
    # adds ~40 ms to every call, which would make the fake (not the code under test) the limit
    disable_nagle_algorithm = True

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        cdn = self.fake.cdn_answer(method, self.path)
        if cdn is not None:
            self._send_cdn(cdn)
            return
        try:
            status, ctype, out = self.fake.handle(method, self.path, body, self.headers.get("Content-Type") or "")
        except Exception:  # a fake must never take the test run down with it
            logger.exception("fake graph handler crashed")
            status, ctype, out = json_response(500, error_body(1, "An unknown error occurred"))
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # client gave up (e.g. its read timeout fired)

    def _send_cdn(self, answer: CdnAnswer) -> None:
        """A CDN answer: its own headers; without Content-Length the body ends with the connection."""
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.status != 200:
                self.send_header("Content-Length", str(len(answer.body)))
            elif "Content-Length" not in answer.headers:
                self.close_connection = True
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # The default request line carries the query string (access_token): log the path only.
        logger.debug("fake graph %s %s", self.command, urlsplit(self.path).path)
