"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from app import db
from app.core.queues import get_redis
from app.core.scheduler import snapshot

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        logger.warning("readiness: database unreachable: %s", type(exc).__name__)
        checks["database"] = "unreachable"
        db.session.rollback()
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        logger.warning("readiness: redis unreachable: %s", type(exc).__name__)
        checks["redis"] = "unreachable"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


@bp.get("/healthz/scheduler")
def scheduler_health() -> tuple[Response, int]:
    """503 while no scheduler beats or a scheduled job is overdue; the body says which.

    Public like /readyz (probes have no login): it names no host, process or error text."""
    try:
        status, states = snapshot(current_app.config)
    except Exception as exc:  # noqa: BLE001 - Redis down: the scheduler cannot work either
        logger.warning("scheduler health: redis unreachable: %s", type(exc).__name__)
        return jsonify(status="unavailable", reason="Redis is unreachable"), 503
    late = [s.job.name for s in states if s.overdue]
    ok = status.up and not late
    reason = status.reason if not status.up else (f"overdue: {', '.join(late)}" if late else status.reason)
    body = {
        "status": "ok" if ok else "unavailable",
        "reason": reason,
        "scheduler": {
            "up": status.up,
            "heartbeat_age_seconds": None if status.heartbeat_age is None else round(status.heartbeat_age, 1),
            "standbys": len(status.standbys),
            "restarts": status.restarts,
        },
        "jobs": {
            s.job.name: {"status": str(s.status), "overdue": s.overdue, "last_success": s.last_success} for s in states
        },
    }
    return jsonify(body), 200 if ok else 503
