"""`Server-Timing` on admin responses (when SERVER_TIMING is on): database time and query count.

Browsers' developer tools show it per request, and bench/grids.py compares the database time
of each screen with the raw SQL that returns the same rows. Off by default: it tells clients
how long the database took.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, g, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)
_listening = False


def _timed() -> bool:
    return has_request_context() and "server_timing_start" in g


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if _timed():
        conn.info.setdefault("server_timing_starts", []).append(time.perf_counter())


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    starts = conn.info.get("server_timing_starts")
    if starts and _timed():
        elapsed = time.perf_counter() - starts.pop()
        g.server_timing_db = getattr(g, "server_timing_db", 0.0) + elapsed
        g.server_timing_queries = getattr(g, "server_timing_queries", 0) + 1


def install(app: Flask) -> None:
    """Hooks always in place (cheap); the config is read per request, so it can be switched."""
    global _listening
    if not _listening:  # engine-class listeners: every engine, installed once per process
        event.listen(Engine, "before_cursor_execute", _before)
        event.listen(Engine, "after_cursor_execute", _after)
        _listening = True

    @app.before_request
    def _start() -> None:
        if app.config.get("SERVER_TIMING"):
            g.server_timing_start = time.perf_counter()

    @app.after_request
    def _header(response: Response) -> Response:
        start = getattr(g, "server_timing_start", None)
        if start is not None:
            total = (time.perf_counter() - start) * 1000
            db_ms = getattr(g, "server_timing_db", 0.0) * 1000
            queries = getattr(g, "server_timing_queries", 0)
            response.headers["Server-Timing"] = f'db;dur={db_ms:.2f};desc="{queries} queries", app;dur={total:.2f}'
        return response
