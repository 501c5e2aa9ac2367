"""Product-styled 403/404/500 pages for browsers; JSON callers keep their JSON answers.

Flask-AppBuilder leaves these to Werkzeug's bare pages. A browser gets a short page in plain
words with a way back (inside the app's layout when signed in, a plain page otherwise); the
REST API, the webhook, the data-deletion callback and any caller asking for JSON get exactly
what they got before (`app.web.api.api_http_error`). A 500 page never shows the exception.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template
from flask_login import current_user
from werkzeug.exceptions import Forbidden, HTTPException, InternalServerError, NotFound

from app import appbuilder
from app.web.api import api_http_error
from app.web.limits import wants_json

logger = logging.getLogger(__name__)

PLAIN_LAYOUT = "errors/plain.html"
TEMPLATES = {403: "errors/403.html", 404: "errors/404.html", 500: "errors/500.html"}


def _signed_in() -> bool:
    return bool(getattr(current_user, "is_authenticated", False) and getattr(current_user, "is_active", False))


def _render(code: int, layout: str) -> str:
    return render_template(
        TEMPLATES[code],
        layout=layout,
        base_template=appbuilder.base_template,
        appbuilder=appbuilder,
        code=code,
    )


def error_page(exc: HTTPException) -> Any:
    """The page for a browser; JSON callers get the answer they always had."""
    if wants_json():
        return api_http_error(exc)
    code = exc.code if exc.code in TEMPLATES else 500
    if code == 500:
        # the request's transaction may be the broken part; the layout reads the session
        appbuilder.session.rollback()
    try:
        html = _render(code, "appbuilder/base.html" if _signed_in() else PLAIN_LAYOUT)
    except Exception:  # a broken layout (or database) must not hide the error page itself
        logger.exception("error page %s could not use the app layout", code)
        html = _render(code, PLAIN_LAYOUT)
    return html, code, {"Content-Type": "text/html; charset=utf-8"}


def install(app: Flask) -> None:
    """Register the three handlers (ahead of the API's app-wide HTTPException handler)."""
    for exc_class in (Forbidden, NotFound, InternalServerError):
        app.register_error_handler(exc_class, error_page)
