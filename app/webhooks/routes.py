"""`/webhooks/messenger`: Meta's verification handshake and the event endpoint.

The POST path is deliberately lean (Meta expects a fast 200): verify the signature, shape-check,
one INSERT + COMMIT of the raw body, enqueue, answer. No session, user or menu work.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.sessions import SessionInterface

from app.webhooks import services

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
def _install_session_bypass(state: Any) -> None:
    app = state.app
    if not isinstance(app.session_interface, WebhookFreeSessionInterface):
        app.session_interface = WebhookFreeSessionInterface(app.session_interface)


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@bp.get("/webhooks/messenger")
def verify():
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
        from app.audit.service import record_signature_failure

        record_signature_failure()
    except Exception as exc:  # noqa: BLE001 - auditing must not turn a 403 into a 500
        logger.warning("signature failure not counted: %s", type(exc).__name__)


def _rejected(reason: str, status: int) -> tuple[Response, int]:
    """A refused POST: counted for /metrics (best effort), answered with the reason."""
    from app.core import metrics

    metrics.incr(metrics.WEBHOOK_REJECTED_KEY)
    return jsonify(error=reason), status


@bp.post("/webhooks/messenger")
def receive():
    """Verify, store durably, queue; 403 bad signature, 400 bad shape, 503 database down."""
    length = request.content_length
    if length is not None and length > services.MAX_BODY_BYTES:
        return _rejected("body too large", 400)
    body = request.get_data(cache=False)
    if len(body) > services.MAX_BODY_BYTES:
        return _rejected("body too large", 400)
    if not services.verify_signature(
        body,
        request.headers.get("X-Hub-Signature-256"),
        request.headers.get("X-Hub-Signature"),
        current_app.config.get("FB_APP_SECRET") or "",
    ):
        _count_signature_failure()
        return _rejected("missing or invalid signature", 403)
    try:
        data = services.parse_payload(body)
    except services.BadPayload as exc:
        return _rejected(str(exc), 400)
    try:
        event_id = services.store_event(body, data)
    except services.StorageUnavailable as exc:
        logger.error("webhook event not stored (database unavailable): %s", exc)
        return jsonify(error="temporarily unavailable"), 503
    services.signal_new_event(event_id)
    return _text("EVENT_RECEIVED", 200)
