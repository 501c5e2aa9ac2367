"""gunicorn settings for `gunicorn --config gunicorn.conf.py run:app` (the Docker `web` role).

Everything can be overridden from the environment so one image fits every machine size.
The access log prints the path without its query string: `GET /webhooks/messenger` carries
`hub.verify_token` there, and secrets never go to logs.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Worker recycling is off: under webhook load (~1,000 events/s on 2 cores) a limit of 2,000
# requests restarted every worker every few seconds (64 % of the reference rate, p99 1.4 s).
# An operator who wants it (to bound a slow leak) sets e.g. GUNICORN_MAX_REQUESTS=100000 and
# GUNICORN_MAX_REQUESTS_JITTER=10000: at least tens of minutes of traffic between restarts.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# behind a load balancer: trust its X-Forwarded-* only from these addresses (and set
# PROXY_FIX_HOPS so Flask uses them for client IPs, login rate limits and audit rows)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# %(U)s is the path WITHOUT the query string; the request id links access lines to app logs
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%({x-request-id}o)s"'
# the app is imported per worker (no preload): each worker opens its own DB and Redis pools
preload_app = False
