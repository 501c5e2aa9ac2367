"""`GET /metrics` in the Prometheus text exposition format (written by hand: no extra package).

Access is restricted (the numbers describe the business): a request passes when its address
is inside `METRICS_ALLOW_NETS` (comma-separated CIDRs, default loopback only) or when it
carries `Authorization: Bearer <METRICS_TOKEN>` (when that setting is non-empty).

Counters that only the webhook route can see (received / rejected posts) live in Redis under
`omnicrm:metrics:*` so every web replica adds to the same number; the rest is read from the
database and the queues at scrape time.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable

from flask import Blueprint, Response, abort, current_app, request

from app import db
from app.core.counters import WEBHOOK_RECEIVED_KEY, WEBHOOK_REJECTED_KEY
from app.core.queues import get_redis
from app.core.scheduler import snapshot
from app.dashboard import queues, services
from app.pages.health import health_gauges
from app.privacy.models import REQUEST_STATUSES

logger = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse_nets(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated CIDRs; a bad entry is a configuration error, named in the message."""
    nets = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"METRICS_ALLOW_NETS: {part!r} is not a network (e.g. 10.0.0.0/8)")
    return nets


def allowed(remote_addr: str | None, authorization: str | None, token: str, nets_setting: str) -> bool:
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if not remote_addr:
        return False
    try:
        addr = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(addr in net for net in parse_nets(nets_setting))


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    """Whole numbers as integers; others in full (a Unix time must keep its seconds)."""
    f = float(value)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


class Exposition:
    """Collects samples grouped by metric family."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            number = _number(value)
            self.lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _scheduler_families(out: Exposition) -> None:
    status, states = snapshot(current_app.config)
    out.family("omnicrm_scheduler_up", "gauge", "1 while a scheduler leader beats.", [({}, int(status.up))])
    if status.heartbeat_age is not None:
        out.family(
            "omnicrm_scheduler_heartbeat_age_seconds",
            "gauge",
            "Seconds since the scheduler leader's last beat.",
            [({}, round(status.heartbeat_age, 1))],
        )
    out.family(
        "omnicrm_scheduler_restarts_total",
        "counter",
        "Scheduler processes that died and were started again by their worker.",
        [({}, status.restarts)],
    )
    out.family(
        "omnicrm_cron_last_success_timestamp",
        "gauge",
        "Unix time of each scheduled job's last success (0 = never).",
        [({"job": s.job.name}, s.last_success or 0) for s in states],
    )
    out.family(
        "omnicrm_cron_failures_total",
        "counter",
        "Failed runs of each scheduled job.",
        [({"job": s.job.name}, s.failures) for s in states],
    )
    out.family(
        "omnicrm_cron_overdue",
        "gauge",
        "1 when a scheduled job has not succeeded within twice its period.",
        [({"job": s.job.name}, int(s.overdue)) for s in states],
    )


def collect() -> str:
    """Read every number once; a failing source is reported as `omnicrm_scrape_error`."""
    out = Exposition()
    errors: dict[str, int] = {"redis": 0, "database": 0}
    try:
        redis = get_redis()
        received, rejected = redis.mget([WEBHOOK_RECEIVED_KEY, WEBHOOK_REJECTED_KEY])
        out.family(
            "omnicrm_webhook_events_received_total",
            "counter",
            "Webhook POSTs accepted and stored.",
            [({}, int(received or 0))],
        )
        out.family(
            "omnicrm_webhook_events_rejected_total",
            "counter",
            "Webhook POSTs refused (bad signature or body).",
            [({}, int(rejected or 0))],
        )
        depth = queues.depths()
        out.family(
            "omnicrm_queue_jobs",
            "gauge",
            "RQ jobs per queue and state.",
            [({"queue": q, "state": state}, n) for q, states in depth.items() for state, n in states.items()],
        )
        _scheduler_families(out)
    except Exception as exc:  # noqa: BLE001 - a scrape reports the outage instead of failing
        logger.warning("metrics: redis unavailable: %s", type(exc).__name__)
        errors["redis"] = 1
    try:
        health = services.webhook_health()
        out.family(
            "omnicrm_webhook_processing_lag_seconds",
            "gauge",
            "Age of the oldest webhook event still pending (0 when none).",
            [({}, round(health["lag_seconds"], 3))],
        )
        out.family(
            "omnicrm_webhook_events_in_error",
            "gauge",
            "Stored webhook events whose processing failed.",
            [({}, health["errors"])],
        )
        sends = services.sends_by_status()
        out.family(
            "omnicrm_outbound_messages",
            "gauge",
            "Outbound messages by delivery status (sends by outcome).",
            [({"status": s}, sends.get(s, 0)) for s in ("queued", "sending", "sent", "delivered", "read", "failed")],
        )
        privacy = services.privacy_by_status()
        out.family(
            "omnicrm_privacy_requests",
            "gauge",
            "Privacy requests by status.",
            [({"status": s}, privacy.get(s, 0)) for s in REQUEST_STATUSES],
        )
        out.family(
            "omnicrm_privacy_requests_overdue",
            "gauge",
            "Open privacy requests past their due date.",
            [({}, services.privacy_overdue(limit=0)["count"])],
        )
        out.family(
            "omnicrm_pages_needing_reauth",
            "gauge",
            "Connected pages whose token must be renewed.",
            [({}, len(services.pages_needing_reauth()))],
        )
        out.family(
            "omnicrm_channel_health",
            "gauge",
            "Each page's channel health: 0 ok, 1 warning, 2 failing, -1 never checked.",
            [({"page_id": fb_id, "page": name}, value) for fb_id, name, value in health_gauges()],
        )
        db.session.rollback()
    except Exception as exc:  # noqa: BLE001
        logger.warning("metrics: database unavailable: %s", type(exc).__name__)
        errors["database"] = 1
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001
            logger.debug("rollback after failed scrape also failed")
    out.family(
        "omnicrm_scrape_error",
        "gauge",
        "1 when a source could not be read during this scrape.",
        [({"source": k}, v) for k, v in errors.items()],
    )
    return out.render()


@bp.get("/metrics")
def metrics() -> Response:
    cfg = current_app.config
    try:
        ok = allowed(
            request.remote_addr,
            request.headers.get("Authorization"),
            cfg.get("METRICS_TOKEN") or "",
            cfg.get("METRICS_ALLOW_NETS", "127.0.0.1/32,::1/128"),
        )
    except ValueError as exc:
        logger.error("metrics refused: %s", exc)
        ok = False
    if not ok:
        abort(403, description="metrics are restricted: use METRICS_TOKEN or an address in METRICS_ALLOW_NETS")
    return Response(collect(), mimetype=None, content_type=CONTENT_TYPE)
