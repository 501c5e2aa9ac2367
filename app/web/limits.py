"""Request size limits: every oversized body is a 413 before any view reads it.

Flask enforces `MAX_CONTENT_LENGTH` lazily, when a view first touches the body. Flask-AppBuilder's
API views catch every exception they do not know as a 500, so a 413 raised inside one would be
lost: the check runs up front instead, from the declared Content-Length; a chunked body (no
Content-Length) is given one by `ChunkedBodyLimit`, reading at most the limit + 1 bytes. `MAX_FORM_MEMORY_SIZE`
and `MAX_FORM_PARTS` (Werkzeug's multipart guards) answer 413 through the same handler.

The webhook's WSGI fast path (app.webhooks.routes) never reaches Flask and keeps its own cap.
A few routes take bigger bodies (a reply's file, up to 25 MB): a domain registers their paths
with `allow_larger_body`, and both the early check and the chunked-body reader use that limit
for them only.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import RequestEntityTooLarge

# routes whose callers are machines (or scripts): a too-large answer is JSON with a reason
JSON_PREFIXES = ("/api/", "/privacy/facebook/", "/webhooks/")
#: (path pattern, config key of its body limit): the routes allowed more than MAX_CONTENT_LENGTH
_LARGER_BODIES: list[tuple[re.Pattern[str], str]] = []


def allow_larger_body(path_pattern: str, config_key: str) -> None:
    """Let multipart requests (file uploads) whose path fully matches `path_pattern` carry up to
    `config[config_key]` bytes; any other body there keeps MAX_CONTENT_LENGTH."""
    entry = (re.compile(path_pattern), config_key)
    if entry not in _LARGER_BODIES:
        _LARGER_BODIES.append(entry)


def route_limit(config: Any, path: str, content_type: str | None) -> int | None:
    """The body limit of a request: its route's registered larger limit for an upload, else
    MAX_CONTENT_LENGTH."""
    if (content_type or "").lower().startswith("multipart/form-data"):
        for pattern, key in _LARGER_BODIES:
            if pattern.fullmatch(path) and config.get(key):
                return int(config[key])
    limit = config.get("MAX_CONTENT_LENGTH")
    return int(limit) if limit else None


def _limit() -> int | None:
    """The limit of this request (a view may raise its own through `request.max_content_length`)."""
    return request.max_content_length


def reject_oversized() -> None:
    """before_request: 413 for a declared or chunked body beyond the limit (the route's own,
    when it registered a larger one)."""
    if _LARGER_BODIES and request.content_length != 0:
        own = route_limit(current_app.config, request.path, request.content_type)
        if own != current_app.config.get("MAX_CONTENT_LENGTH"):
            request.max_content_length = own
    limit = _limit()
    if limit is None:
        return
    length = request.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge()


def wants_json() -> bool:
    """API and JSON callers get a JSON reason; browsers a short page."""
    if request.path.startswith(JSON_PREFIXES) or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def too_large(_exc: Exception) -> tuple[Response, int] | tuple[str, int, dict[str, str]]:
    """The 413 answer, naming the limit."""
    limit = _limit() or current_app.config.get("MAX_CONTENT_LENGTH")
    reason = "request body too large" + (f" (limit {limit} bytes)" if limit else "")
    if wants_json():
        return jsonify({"error": reason, "limit": limit}), 413
    html = f"<!doctype html><title>Request too large</title><h1>Request too large</h1><p>{escape(reason)}.</p>"
    return html, 413, {"Content-Type": "text/html; charset=utf-8"}


class ChunkedBodyLimit:
    """WSGI middleware giving a chunked body a length Flask can check (HTTP: Transfer-Encoding
    overrides any Content-Length).

    Werkzeug silently truncates such a body at MAX_CONTENT_LENGTH, so a view would act on part
    of it. This reads at most limit + 1 bytes into memory and hands the app a plain body of
    that length: a body over the limit then gets the same 413 as a declared one, and the rest
    is never read. The webhook path caps its own reads and is passed through untouched.
    """

    def __init__(self, app: Flask, wsgi_app: Callable[..., Any]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        limit = route_limit(self.app.config, environ.get("PATH_INFO", ""), environ.get("CONTENT_TYPE"))
        if (
            limit
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
            and environ.get("wsgi.input_terminated")
            and not environ.get("PATH_INFO", "").startswith("/webhooks/")
        ):
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.wsgi_app(environ, start_response)


def install(app: Flask) -> None:
    """Register the early check, the 413 handler and the chunked-body middleware."""
    app.wsgi_app = ChunkedBodyLimit(app, app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(reject_oversized)
    app.register_error_handler(RequestEntityTooLarge, too_large)
