"""Security headers and request ids on every response."""

from __future__ import annotations

from flask import Flask, Response, g, request

from app.core.context import new_request_id

CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)


def install(app: Flask) -> None:
    production = app.config.get("OMNICRM_ENV") == "production"

    @app.before_request
    def _request_id() -> None:
        g.request_id = (request.headers.get("X-Request-ID") or "")[:64] or new_request_id()

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers["X-Request-ID"] = getattr(g, "request_id", "") or ""
        if production:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
