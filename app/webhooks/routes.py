"""`/webhooks/messenger`: Meta's verification handshake and the event endpoint.

The POST path is deliberately lean (Meta expects a fast 200): verify the signature, shape-check,
one INSERT + COMMIT of the raw body, enqueue, answer. No session, user or menu work.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.sessions import SessionInterface
from werkzeug.wsgi import get_input_stream

from app.audit.service import record_signature_failure
from app.core import counters
from app.core.context import acting_as, new_request_id
from app.web.security_headers import response_headers
from app.webhooks.exceptions import BadPayload, StorageUnavailable
from app.webhooks.ingest import MAX_BODY_BYTES, parse_payload, store_event, verify_signature
from app.webhooks.payload import HANDLED_OBJECTS
from app.webhooks.signals import WEBHOOK_ACTOR, signal_soon

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)
WEBHOOK_PATH_PREFIX = "/webhooks/"


class WebhookFreeSessionInterface(SessionInterface):
    """Hands webhook requests a null session: Meta sends no cookies, and decoding one (or
    answering `Vary: Cookie`) is per-request work the hot path does not need. Every other
    request gets the wrapped interface unchanged."""

    def __init__(self, inner: SessionInterface) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def open_session(self, app: Flask, request: Any) -> Any:
        if request.path.startswith(WEBHOOK_PATH_PREFIX):
            return self.make_null_session(app)
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return self.inner.save_session(app, session, response)


@bp.record_once
def _install_fast_path(state: Any) -> None:
    """Wrap the app once: null sessions for webhook requests, and the WSGI fast path."""
    app = state.app
    if not isinstance(app.session_interface, WebhookFreeSessionInterface):
        app.session_interface = WebhookFreeSessionInterface(app.session_interface)
    app.wsgi_app = WebhookFastPath(app, app.wsgi_app)


def _text(body: str, status: int) -> Response:
    """A plain-text answer (what Meta's handshake and the 200 expect)."""
    return Response(body, status=status, mimetype="text/plain")


@bp.get("/webhooks/messenger")
def verify() -> Response:
    """Subscription check: echo hub.challenge when the mode and verify token match."""
    mode = request.args.get("hub.mode", "")
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    expected = current_app.config.get("FB_VERIFY_TOKEN") or ""
    if mode == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return _text(challenge, 200)
    return _text("forbidden", 403)


def _count_signature_failure() -> None:
    """Forged/unsigned posts are audited as a per-minute count (Redis), never one row each."""
    try:
        record_signature_failure()
    except Exception as exc:  # noqa: BLE001 - auditing must not turn a 403 into a 500
        logger.warning("signature failure not counted: %s", type(exc).__name__)


def _rejected(reason: str, status: int) -> tuple[int, dict[str, str]]:
    """A refused POST: counted for /metrics (best effort), answered with the reason."""
    counters.incr(counters.WEBHOOK_REJECTED_KEY)
    return status, {"error": reason}


def body_limit() -> int:
    """The webhook's own 1 MiB cap (Meta's bodies are far smaller), or MAX_CONTENT_LENGTH if lower:
    the fast path never reaches Flask, which would enforce the latter."""
    configured = current_app.config.get("MAX_CONTENT_LENGTH")
    return min(MAX_BODY_BYTES, configured) if configured else MAX_BODY_BYTES


class HeaderSource(Protocol):
    """What `handle_event` reads headers through: Flask's request headers or `_Headers`."""

    def get(self, name: str, /) -> str | None: ...


def handle_event(
    read_body: Callable[[int], bytes], content_length: int | None, headers: HeaderSource
) -> tuple[int, dict[str, str] | str]:
    """The POST: verify, store durably, queue. Returns (status, JSON error dict or plain text).

    403 bad signature, 413 too large, 400 bad shape, 503 database down; needs an app context.
    """
    limit = body_limit()
    if content_length is not None and content_length > limit:
        return _rejected("body too large", 413)
    body = read_body(limit + 1)  # a chunked body is cut here too: never more than limit + 1 in memory
    if len(body) > limit:
        return _rejected("body too large", 413)
    if not verify_signature(
        body,
        headers.get("X-Hub-Signature-256"),
        headers.get("X-Hub-Signature"),
        current_app.config.get("FB_APP_SECRET") or "",
    ):
        _count_signature_failure()
        return _rejected("missing or invalid signature", 403)
    try:
        data = parse_payload(body)
    except BadPayload as exc:
        return _rejected(str(exc), 400)
    try:
        event_id = store_event(body, data)
    except StorageUnavailable as exc:
        logger.error("webhook event not stored (database unavailable): %s", exc)
        return 503, {"error": "temporarily unavailable"}
    if data["object"] in HANDLED_OBJECTS:  # another object is stored as skipped: nothing to apply
        signal_soon(event_id)
    return 200, "EVENT_RECEIVED"


@bp.post("/webhooks/messenger")
def receive() -> Response | tuple[Response, int]:
    """The route as Flask sees it (url_for, the route map); requests are served by
    `WebhookFastPath` below, which runs the same `handle_event` without Flask's per-request
    machinery. This view serves them only where that middleware is not installed."""
    status, result = handle_event(request.stream.read, request.content_length, request.headers)
    return (jsonify(result), status) if isinstance(result, dict) else (_text(result, status))


# --------------------------------------------------------------------------- WSGI fast path

# not a security header: the answer to a signed machine-to-machine post is never cached
_NO_STORE = ("Cache-Control", "no-store")


class _Headers:
    """Request headers straight from the WSGI environ (what `handle_event` reads)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), default)


class WebhookFastPath:
    """WSGI middleware answering `POST /webhooks/messenger` itself (Meta wants a fast 200).

    Flask's request handling costs as much CPU as the durable INSERT: the request and
    response objects, URL routing, and every hook the admin needs (CSRF, rate limiter, FAB's
    user loading, audit banner). None of it applies to a signed machine-to-machine post, so
    this path skips it and keeps only an app context, a request id and the security headers.
    Everything else goes to the wrapped Flask app.
    """

    def __init__(self, app: Flask, wsgi_app: Callable[..., Any]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        # the same security headers as every Flask response (app.web.security_headers)
        self.headers = [*response_headers(app.config.get("OMNICRM_ENV") == "production"), _NO_STORE]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != "/webhooks/messenger" or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        request_id = (environ.get("HTTP_X_REQUEST_ID") or "")[:64] or new_request_id()
        try:
            length: int | None = max(0, int(environ.get("CONTENT_LENGTH") or ""))
        except ValueError:
            length = None
        stream = get_input_stream(environ)  # never reads past Content-Length (keep-alive)
        with self.app.app_context(), acting_as(WEBHOOK_ACTOR, request_id):
            try:
                status, result = handle_event(stream.read, length, _Headers(environ))
            except Exception:  # nothing was stored (the signal after the INSERT never raises)
                logger.exception("webhook event not stored")
                status, result = 503, {"error": "temporarily unavailable"}
        if isinstance(result, dict):
            body, content_type = json.dumps(result).encode(), "application/json"
        else:
            body, content_type = result.encode(), "text/plain; charset=utf-8"
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("X-Request-ID", request_id),
                *self.headers,
            ],
        )
        return [body]
