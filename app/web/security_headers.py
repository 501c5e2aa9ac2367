"""Security headers and request ids on every response; FAB's unused file download routes off."""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, g, request

from app.core.context import new_request_id

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


def response_headers(production: bool) -> list[tuple[str, str]]:
    """The security headers of every response, as one list: the Flask hook below and the
    webhook's WSGI fast path (which bypasses Flask) both send exactly these."""
    headers = [
        ("Content-Security-Policy", CSP),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]
    if production:
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


def install(app: Flask) -> None:
    headers = response_headers(app.config.get("OMNICRM_ENV") == "production")

    @app.before_request
    def _request_id() -> None:
        g.request_id = (request.headers.get("X-Request-ID") or "")[:64] or new_request_id()

    @app.before_request
    def _no_file_downloads() -> None:
        # Every FAB ModelView exposes /download/<filename>, serving UPLOAD_FOLDER for file
        # columns. We store no uploads: without this, the route is a 500 (or a directory read).
        endpoint = request.endpoint or ""
        if endpoint.endswith(".download") and not app.config.get("UPLOAD_FOLDER"):
            abort(404)

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in headers:
            response.headers.setdefault(name, value)
        response.headers["X-Request-ID"] = getattr(g, "request_id", "") or ""
        return response
