"""A fake Meta Graph API served over real HTTP, for tests, demos and load runs.

Running a real server (rather than mocking ``requests``) exercises the actual client code:
connection pooling, timeouts, query encoding and error parsing. Failures are injected with
switches settable from Python or via ``POST /_control``; optionally every successful send is
followed by signed echo / delivery / read webhooks, so the whole message lifecycle can be
driven locally without Meta.

Run standalone::

    python -m app.devtools.fakegraph --port 8765 \
        --webhook-url http://127.0.0.1:5000/webhooks/messenger --app-secret s3cret
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SLEEP = 30.0
_FIRST_NAMES = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Jamie"]
_LAST_NAMES = [
    "Rivera",
    "Okafor",
    "Nguyen",
    "Schmidt",
    "Kowalski",
    "Haddad",
    "Larsen",
    "Moreau",
]


def _now_ms() -> int:
    return int(time.time() * 1000)


def sign_body(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 header value Meta sends with every webhook."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def default_profile(psid: str) -> dict[str, Any]:
    """A deterministic made-up profile so the same PSID always gets the same name."""
    n = int(hashlib.sha256(psid.encode("utf-8")).hexdigest(), 16)
    return {
        "first_name": _FIRST_NAMES[n % len(_FIRST_NAMES)],
        "last_name": _LAST_NAMES[(n // 7) % len(_LAST_NAMES)],
        "profile_pic": f"https://example.invalid/pics/{psid}.jpg",
        "locale": "en_US",
        "id": psid,
    }


def _error_body(
    code: int | None,
    message: str,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> dict:
    err: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "fbtrace_id": "F" + uuid.uuid4().hex[:11],
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    return {"error": err}


class FakeGraph:
    """In-process fake Graph API; use as a context manager or via start()/stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        app_secret: str = "",
        app_id: str = "",
        page_id: str = "",
        webhook_url: str | None = None,
        webhook_gap: float = 0.3,
        profiles: dict[str, dict] | None = None,
        ids_for_pages: dict[str, list[dict]] | None = None,
        timeout_sleep: float = DEFAULT_TIMEOUT_SLEEP,
    ) -> None:
        self.host = host
        self.port = port
        self.app_secret = app_secret
        self.app_id = app_id
        self.page_id = page_id
        self.webhook_url = webhook_url
        self.webhook_gap = webhook_gap
        self.profiles: dict[str, dict] = dict(profiles or {})
        self.ids_for_pages_map: dict[str, list[dict]] = dict(ids_for_pages or {})
        self.timeout_sleep = timeout_sleep
        self.requests_log: list[dict[str, Any]] = []
        self.webhook_log: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reset_switches()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """Base URL (no version) to use as GRAPH_API_BASE; valid once started."""
        if self._server is None:
            raise RuntimeError("FakeGraph not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakegraph",
            daemon=True,
        )
        self._thread.start()
        logger.info("fake graph listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving; wakes handlers sleeping on injected delays/timeouts."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ switches

    def _reset_switches(self) -> None:
        with self._lock:
            self._failures: list[dict[str, Any]] = []
            self._delay = 0.0
            self._timeouts = 0
            self._timeout_seconds: float | None = None
            self._profile_error: dict[str, Any] | None = None

    def reset(self) -> None:
        """Clear logs and all injected failures."""
        with self._lock:
            self.requests_log.clear()
            self.webhook_log.clear()
            self._reset_switches()

    def fail_next(
        self,
        code: int | None,
        count: int = 1,
        http_status: int = 400,
        subcode: int | None = None,
        message: str = "Injected failure from FakeGraph",
        raw_body: str | None = None,
    ) -> None:
        """Make the next ``count`` Graph calls fail with this error (raw_body → non-JSON body)."""
        with self._lock:
            self._failures.append(
                {
                    "code": code,
                    "count": int(count),
                    "http_status": int(http_status),
                    "subcode": subcode,
                    "message": message,
                    "raw_body": raw_body,
                }
            )

    @property
    def delay(self) -> float:
        """Seconds every Graph call waits before answering."""
        with self._lock:
            return self._delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        with self._lock:
            self._delay = max(0.0, float(seconds))

    def timeout_next(self, count: int = 1, seconds: float | None = None) -> None:
        """Make the next ``count`` calls hang longer than any sane client read timeout."""
        with self._lock:
            self._timeouts += int(count)
            self._timeout_seconds = seconds

    def profile_error(
        self,
        code: int | None,
        http_status: int = 400,
        subcode: int | None = None,
        message: str | None = None,
    ) -> None:
        """Make profile fetches fail with ``code`` (e.g. 2018218) until cleared with None."""
        with self._lock:
            if code is None:
                self._profile_error = None
            else:
                self._profile_error = {
                    "code": int(code),
                    "http_status": int(http_status),
                    "subcode": subcode,
                    "message": message or "(#2018218) Profile is not available for this user",
                }

    def control(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a JSON control command (the body of ``POST /_control``)."""
        action = payload.get("action")
        args = {k: v for k, v in payload.items() if k != "action"}
        if action == "fail_next":
            self.fail_next(**args)
        elif action == "delay":
            self.delay = float(args.get("seconds", args.get("delay", 0)))
        elif action == "timeout_next":
            self.timeout_next(**args)
        elif action == "profile_error":
            self.profile_error(**args)
        elif action == "reset":
            self.reset()
        elif action == "set_profile":
            with self._lock:
                self.profiles[str(args["psid"])] = dict(args["profile"])
        elif action == "set_ids_for_pages":
            with self._lock:
                self.ids_for_pages_map[str(args["asid"])] = list(args["data"])
        elif action == "configure":
            with self._lock:
                for key in (
                    "webhook_url",
                    "webhook_gap",
                    "page_id",
                    "app_id",
                    "app_secret",
                    "timeout_sleep",
                ):
                    if key in args:
                        setattr(self, key, args[key])
        else:
            raise ValueError(f"unknown action {action!r}")
        return {"ok": True, "action": action}

    # ------------------------------------------------------------------ request handling

    def _take_injected(self) -> tuple[float, float, dict[str, Any] | None]:
        """Consume one timeout / failure switch; returns (delay, hang_seconds, failure)."""
        with self._lock:
            hang = 0.0
            if self._timeouts > 0:
                self._timeouts -= 1
                hang = self._timeout_seconds if self._timeout_seconds is not None else self.timeout_sleep
            failure = None
            if self._failures:
                failure = self._failures[0]
                failure["count"] -= 1
                if failure["count"] <= 0:
                    self._failures.pop(0)
            return self._delay, hang, failure

    def _check_proof(self, query: dict[str, str]) -> tuple[int, dict] | None:
        with self._lock:
            secret = self.app_secret
        token = query.get("access_token")
        if not token:
            return 400, _error_body(2500, "An active access token must be used to query information.")
        if secret:
            expected = hmac.new(secret.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, query.get("appsecret_proof", "")):
                return 400, _error_body(
                    100,
                    "Invalid appsecret_proof provided in the API argument",
                    error_type="GraphMethodException",
                )
        return None

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, str, bytes]:
        """Route one request; returns (status, content type, body)."""
        split = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = [p for p in split.path.split("/") if p]

        if parts == ["_control"] and method == "POST":
            try:
                result = self.control(json.loads(body or b"{}"))
            except (ValueError, TypeError, KeyError) as exc:
                return _json(400, {"error": str(exc)})
            return _json(200, result)
        if parts == ["_requests"] and method == "GET":
            with self._lock:
                return _json(
                    200,
                    {
                        "requests": list(self.requests_log),
                        "webhooks": list(self.webhook_log),
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

        delay, hang, failure = self._take_injected()
        if delay:
            self._stopping.wait(delay)
        if hang:
            self._stopping.wait(hang)
            return _json(504, _error_body(2, "Timed out (injected)"))
        if failure is not None:
            if failure["raw_body"] is not None:
                return (
                    failure["http_status"],
                    "text/html",
                    failure["raw_body"].encode("utf-8"),
                )
            return _json(
                failure["http_status"],
                _error_body(failure["code"], failure["message"], failure["subcode"]),
            )

        bad_auth = self._check_proof(query)
        if bad_auth is not None:
            return _json(*bad_auth)

        if method == "POST" and len(parts) == 3 and parts[2] == "messages":
            return self._send(parts[1], parsed)
        if method == "GET" and len(parts) == 3 and parts[2] == "ids_for_pages":
            return self._ids_for_pages(parts[1])
        if method == "GET" and len(parts) == 2:
            return self._profile(parts[1], query)
        return _json(
            400,
            _error_body(
                100,
                f"Unsupported {method.lower()} request.",
                error_type="GraphMethodException",
            ),
        )

    def _send(self, page_id: str, payload: Any) -> tuple[int, str, bytes]:
        if not isinstance(payload, dict):
            return _json(
                400,
                _error_body(100, "(#100) Invalid JSON body", error_type="GraphMethodException"),
            )
        psid = (payload.get("recipient") or {}).get("id")
        message = payload.get("message") or {}
        if not psid:
            return _json(400, _error_body(100, "(#100) The parameter recipient is required"))
        if not (message.get("text") or message.get("attachment")):
            return _json(400, _error_body(100, "(#100) Must send either message or state"))
        if payload.get("messaging_type") == "MESSAGE_TAG" and not payload.get("tag"):
            return _json(400, _error_body(100, "(#100) Tag is required for MESSAGE_TAG"))
        mid = "m_" + uuid.uuid4().hex
        with self._lock:
            webhook_url = self.webhook_url
            resolved_page = page_id if page_id != "me" else (self.page_id or "0")
        if webhook_url:
            threading.Thread(
                target=self._emit_webhooks,
                args=(webhook_url, resolved_page, str(psid), mid, message),
                name="fakegraph-webhooks",
                daemon=True,
            ).start()
        return _json(200, {"recipient_id": str(psid), "message_id": mid})

    def _profile(self, psid: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        with self._lock:
            err = self._profile_error
            profile = dict(self.profiles.get(psid) or default_profile(psid))
        if err is not None:
            return _json(
                err["http_status"],
                _error_body(err["code"], err["message"], err["subcode"]),
            )
        profile.setdefault("id", psid)
        fields = [f for f in query.get("fields", "").split(",") if f]
        if fields:
            profile = {k: v for k, v in profile.items() if k in fields or k == "id"}
        return _json(200, profile)

    def _ids_for_pages(self, asid: str) -> tuple[int, str, bytes]:
        with self._lock:
            data = self.ids_for_pages_map.get(asid)
            page_id = self.page_id or "1234567890"
        if data is None:
            data = [{"id": f"psid-{asid}", "page": {"id": page_id, "name": "Fake Page"}}]
        return _json(200, {"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}})

    # ------------------------------------------------------------------ webhooks

    def _emit_webhooks(self, url: str, page_id: str, psid: str, mid: str, message: dict) -> None:
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
                "timestamp": _now_ms(),
                "message": echo,
            },
            None,  # delivery, built when sent so its watermark is "now"
            None,  # read
        ]
        for index, event in enumerate(events):
            if index and self._stopping.wait(gap):
                return
            now = _now_ms()
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

    def _post_webhook(self, url: str, payload: dict, secret: str) -> None:
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


def _json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    """Thin adapter from http.server to FakeGraph.handle."""

    fake: FakeGraph
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: with Nagle on, a keep-alive client's delayed ACK
    # adds ~40 ms to every call, which would make the fake (not the code under test) the limit
    disable_nagle_algorithm = True

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, ctype, out = self.fake.handle(method, self.path, body)
        except Exception:  # a fake must never take the test run down with it
            logger.exception("fake graph handler crashed")
            status, ctype, out = _json(500, _error_body(1, "An unknown error occurred"))
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # client gave up (e.g. its read timeout fired)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # The default request line carries the query string (access_token): log the path only.
        logger.debug("fake graph %s %s", self.command, urlsplit(self.path).path)


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Fake Meta Graph API for local development")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--app-secret", default="")
    parser.add_argument("--app-id", default="")
    parser.add_argument("--page-id", default="")
    parser.add_argument("--webhook-gap", type=float, default=0.3)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fake = FakeGraph(
        args.host,
        args.port,
        app_secret=args.app_secret,
        app_id=args.app_id,
        page_id=args.page_id,
        webhook_url=args.webhook_url,
        webhook_gap=args.webhook_gap,
    )
    fake.delay = args.delay
    url = fake.start()
    print(f"FakeGraph serving at {url} (GRAPH_API_BASE={url}); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
