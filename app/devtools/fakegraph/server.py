"""The fake Graph API's server object: lifecycle, failure switches and control commands.

See the package docstring; request handling is in `handlers.GraphHandlers`.
"""

from __future__ import annotations

import logging
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlencode

from app.devtools.fakegraph.common import DEFAULT_TIMEOUT_SLEEP
from app.devtools.fakegraph.handlers import GraphHandlers, HttpAdapter

logger = logging.getLogger(__name__)


class FakeGraph(GraphHandlers):
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
        profiles: dict[str, dict[str, Any]] | None = None,
        ids_for_pages: dict[str, list[dict[str, Any]]] | None = None,
        timeout_sleep: float = DEFAULT_TIMEOUT_SLEEP,
    ) -> None:
        self.host = host
        self.port = port
        self.app_secret = app_secret
        self.app_id = app_id
        self.page_id = page_id
        self.webhook_url = webhook_url
        self.webhook_gap = webhook_gap
        self.profiles: dict[str, dict[str, Any]] = dict(profiles or {})
        self.ids_for_pages_map: dict[str, list[dict[str, Any]]] = dict(ids_for_pages or {})
        self.timeout_sleep = timeout_sleep
        self.requests_log: list[dict[str, Any]] = []
        self.webhook_log: list[dict[str, Any]] = []
        self.attachment_uploads: list[dict[str, Any]] = []
        self.sender_actions: list[dict[str, Any]] = []
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
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def cdn_url(self, name: str, **query: Any) -> str:
        """A CDN-like attachment URL served by this fake (see `cdn`), e.g. `cdn_url("a.png")`."""
        suffix = "?" + urlencode(query) if query else ""
        return f"{self.base_url}/cdn/{name}{suffix}"

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        handler = type("_BoundHandler", (HttpAdapter,), {"fake": self})
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
            self.attachment_uploads.clear()
            self.sender_actions.clear()
            self._reset_switches()
            self.reset_channels()
            self.reset_profiles()

    def fail_next(
        self,
        code: int | None,
        count: int = 1,
        http_status: int = 400,
        subcode: int | None = None,
        message: str = "Injected failure from FakeGraph",
        raw_body: str | None = None,
        path: str | None = None,
        sender_actions: bool = False,
    ) -> None:
        """Make the next ``count`` Graph calls fail with this error (raw_body → non-JSON body);
        with ``path``, only calls whose path ends with it (e.g. "/message_attachments"); sender
        actions (mark_seen, typing_on) take it only with ``sender_actions=True``."""
        with self._lock:
            self._failures.append(
                {
                    "code": code,
                    "count": int(count),
                    "http_status": int(http_status),
                    "subcode": subcode,
                    "message": message,
                    "raw_body": raw_body,
                    "path": path,
                    "sender_actions": sender_actions,
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
        elif action == "messenger_profile":
            self.set_messenger_profile(
                str(args["token"]), dict(args["profile"]), str(args.get("platform") or "messenger")
            )
        elif action == "instagram_user":
            self.instagram_user(str(args["igsid"]), str(args["ig_id"]), args.get("profile"))
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
        elif (channel := self.channel_control(action, args)) is not None:
            return channel
        else:
            raise ValueError(f"unknown action {action!r}")
        return {"ok": True, "action": action}
