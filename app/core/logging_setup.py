"""Logging: readable lines in development, JSON lines in production."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from flask import Flask, g, has_request_context

from app.core import context


class RequestIdFilter(logging.Filter):
    """Adds the current request id (web request or job) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = None
        if has_request_context():
            rid = getattr(g, "request_id", None)
        if rid is None:
            rid = context.current_request_id()
        record.request_id = rid or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


def configure(app: Flask) -> None:
    root = logging.getLogger()
    if getattr(root, "_omnicrm_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if app.config.get("OMNICRM_ENV") == "production":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # third-party chatter that can echo URLs with query strings (tokens) stays quiet
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("flask_appbuilder").setLevel(logging.WARNING)
    root._omnicrm_configured = True  # type: ignore[attr-defined]
