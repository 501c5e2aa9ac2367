"""Brute-force guard for logins: per account *and* client address, shared through Redis.

Counting failures per account alone lets anyone lock anyone out (five anonymous guesses lock
an Admin). Here the evidence is counted per source (account + address): after
LOGIN_THROTTLE_FREE_ATTEMPTS failures from one address, each further failure makes that
address wait longer (LOGIN_THROTTLE_BASE_SECONDS doubling, capped at
LOGIN_THROTTLE_MAX_SECONDS); at LOGIN_LOCKOUT_THRESHOLD failures from one address, that
address is locked out of that account for LOGIN_LOCKOUT_MINUTES (or until an Admin unlocks the
account). The real user, coming from another address, keeps logging in. Unknown usernames are
counted the same way (keyed by the name typed), so the answers never tell whether an account
exists. A Redis outage disables the guard (logged), it never blocks logins.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from flask import current_app, has_request_context, request
from redis import Redis

from app.core.queues import get_redis

logger = logging.getLogger(__name__)

PREFIX = "omnicrm:login:"
_now = time.time  # tests move the clock


def source_address() -> str:
    """The client address (ProxyFix makes it the real one behind a proxy)."""
    if has_request_context():
        return request.remote_addr or "unknown"
    return "local"


def account_key(user: Any, username: str | None) -> str:
    """One key per account (user id), or per typed name when no such account exists."""
    if user is not None and getattr(user, "id", None) is not None:
        return f"u{user.id}"
    name = (username or "").strip().lower().encode()
    return "n" + hashlib.sha256(name).hexdigest()[:32]


def source_tag(address: str) -> str:
    """A short keyed tag of an address (what a JWT carries instead of the address itself)."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hashlib.sha256(secret + b"|src|" + address.encode()).hexdigest()[:16]


def _settings() -> tuple[int, int, float, float, int]:
    cfg = current_app.config
    return (
        int(cfg.get("LOGIN_LOCKOUT_THRESHOLD", 5)),
        int(cfg.get("LOGIN_THROTTLE_FREE_ATTEMPTS", 3)),
        float(cfg.get("LOGIN_THROTTLE_BASE_SECONDS", 1)),
        float(cfg.get("LOGIN_THROTTLE_MAX_SECONDS", 300)),
        int(cfg.get("LOGIN_LOCKOUT_MINUTES", 60)),
    )


def _redis() -> Redis:
    return get_redis()


def refusal(account: str, address: str) -> str | None:
    """'locked' or 'throttled' when this source must not try a password now, else None."""
    threshold, *_ = _settings()
    try:
        count, until = _redis().hmget(PREFIX + account, f"{address}:n", f"{address}:until")
    except Exception:
        logger.warning("login guard unavailable (Redis); not throttling", exc_info=True)
        return None
    if until is None or float(until) <= _now():
        return None
    return "locked" if threshold and int(count or 0) >= threshold else "throttled"


def record_failure(account: str, address: str) -> str | None:
    """Count a failed attempt from this source; returns 'locked' when this one locked it."""
    threshold, free, base, cap, lock_minutes = _settings()
    key = PREFIX + account
    try:
        redis = _redis()
        count = int(redis.hincrby(key, f"{address}:n", 1))
        wait = _wait_seconds(count, threshold, free, base, cap, lock_minutes)
        if wait:
            redis.hset(key, f"{address}:until", str(_now() + wait))
        redis.expire(key, max(lock_minutes * 60, int(cap)) or 3600)
    except Exception:
        logger.warning("login guard unavailable (Redis); failure not counted", exc_info=True)
        return None
    return "locked" if threshold and count == threshold else None


def _wait_seconds(count: int, threshold: int, free: int, base: float, cap: float, lock_minutes: int) -> float:
    """Growing delays after the free attempts; the lockout at the threshold."""
    if threshold and count >= threshold:
        return lock_minutes * 60
    if count < free:
        return 0
    return min(cap, base * 2.0 ** (count - free))


def record_success(account: str, address: str) -> None:
    """A successful login forgets this source's failures (other sources keep theirs)."""
    try:
        _redis().hdel(PREFIX + account, f"{address}:n", f"{address}:until")
    except Exception:
        logger.warning("login guard unavailable (Redis)", exc_info=True)


def locked_addresses(account: str) -> list[str]:
    """The sources locked out of this account right now."""
    threshold, *_ = _settings()
    if not threshold:
        return []
    try:
        raw = _redis().hgetall(PREFIX + account)
    except Exception:
        logger.warning("login guard unavailable (Redis)", exc_info=True)
        return []
    fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    now = _now()
    return [
        name[: -len(":until")]
        for name, value in fields.items()
        if name.endswith(":until")
        and float(value) > now
        and int(fields.get(name[: -len(":until")] + ":n") or 0) >= threshold
    ]


def clear_account(account: str) -> bool:
    """Forget every source's failures and locks for an account (the Admin's "Unlock")."""
    try:
        return bool(_redis().delete(PREFIX + account))
    except Exception:
        logger.warning("login guard unavailable (Redis); nothing cleared", exc_info=True)
        return False


def source_is_locked(account: str, tag: str) -> bool:
    """Is the source a token was issued to (known by its tag) locked out of this account?"""
    return any(source_tag(address) == tag for address in locked_addresses(account))
