"""Request id and actor carried from a web request into the jobs it enqueues."""

from __future__ import annotations

import contextvars
import getpass
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import g, has_request_context, request
from flask_login import current_user

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    id: int | None
    name: str
    ip: str | None = None
    user_agent: str | None = None


_job_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_job_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("actor", default=None)


def cli_actor() -> Actor:
    """The operator running a `flask omnicrm` command, as named in audit rows."""
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - containers may have no passwd entry
        who = "unknown"
    return Actor(None, f"cli:{who}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    if has_request_context():
        rid = getattr(g, "request_id", None)
        if rid is None:
            rid = request.headers.get("X-Request-ID", "")[:64] or new_request_id()
            g.request_id = rid
        return rid
    return _job_request_id.get()


def current_actor() -> Actor:
    """Who is acting: the logged-in user, else the job's actor, else `system`."""
    actor = _job_actor.get()
    if actor is not None:
        return actor
    if has_request_context():
        ip = request.remote_addr
        ua = (request.user_agent.string or "")[:512]
        user = getattr(g, "user", None) or current_user
        try:
            if user is not None and getattr(user, "is_authenticated", False):
                return Actor(user.id, user.username, ip, ua)
        except Exception:  # noqa: BLE001 - a detached user must not break auditing
            logger.debug("could not read the current user")
        return Actor(None, "anonymous", ip, ua)
    return Actor(None, "system")


@contextmanager
def acting_as(actor: Actor, request_id: str | None = None) -> Iterator[None]:
    """Run a block (a job, a command) as this actor with this request id."""
    t1 = _job_actor.set(actor)
    t2 = _job_request_id.set(request_id or new_request_id())
    try:
        yield
    finally:
        _job_actor.reset(t1)
        _job_request_id.reset(t2)
