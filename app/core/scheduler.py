"""The cron scheduler: one leader per deployment enqueues each due job exactly once.

Why not RQ's CronScheduler: it has no leader election (two schedulers enqueue everything
twice) and keeps no record of outcomes. Here every scheduler process competes for one Redis
lock with an expiry; the holder renews it every tick, and when it dies the lock runs out and
another process takes over within `SCHEDULER_LOCK_SECONDS`. Each run slot is also claimed with
SET NX, so even two leaders (a paused process whose lock expired) enqueue a slot once.
Schedule state lives in Redis, so a new leader continues where the old one stopped, and the
Queues page, `/metrics` and `/healthz/scheduler` read the same state.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import current_app
from redis import Redis

from app.core.queues import enqueue, get_redis, task
from app.core.schedule import ScheduledJob, get_job, jobs

logger = logging.getLogger(__name__)

LEADER_KEY = "omnicrm:scheduler:leader"
STATUS_KEY = "omnicrm:scheduler"
MEMBERS_KEY = "omnicrm:scheduler:members"
RUNS_KEEP = 100

# Take the lock when free, renew it when ours; 1 = we lead.
_LOCK_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('expire', KEYS[1], ARGV[2]) return 1
elseif redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def job_key(name: str) -> str:
    return f"omnicrm:cron:job:{name}"


def runs_key(name: str) -> str:
    return f"omnicrm:cron:runs:{name}"


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _hash(conn: Redis, key: str) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in conn.hgetall(key).items()}


class Scheduler:
    """Ticks once a second: hold (or wait for) the lock, enqueue what is due, beat."""

    def __init__(
        self,
        connection: Redis,
        schedule: Iterable[ScheduledJob],
        lock_seconds: int = 15,
        ident: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn = connection
        self.schedule = tuple(schedule)
        self.lock_seconds = max(2, int(lock_seconds))
        self.ident = ident or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.leading = False
        self._lock = connection.register_script(_LOCK_SCRIPT)
        self._release = connection.register_script(_RELEASE_SCRIPT)

    def tick(self) -> list[str]:
        """One round; returns the names of the jobs it enqueued."""
        now = self.clock()
        self.conn.hset(MEMBERS_KEY, self.ident, now)
        was_leading, self.leading = (
            self.leading,
            bool(self._lock(keys=[LEADER_KEY], args=[self.ident, self.lock_seconds])),
        )
        if self.leading != was_leading:
            logger.info("scheduler %s %s", self.ident, "is now the leader" if self.leading else "is on standby")
        if not self.leading:
            return []
        self.conn.hset(STATUS_KEY, mapping={"leader": self.ident, "heartbeat": now})
        return [job.name for job in self.schedule if self._maybe_enqueue(job, now)]

    def _maybe_enqueue(self, job: ScheduledJob, now: float) -> bool:
        key = job_key(job.name)
        state = _hash(self.conn, key)
        if "next_run" not in state:
            first = now if job.interval is not None else job.next_after(now)
            self.conn.hset(key, mapping={"next_run": first, "first_scheduled": now})
            state["next_run"] = str(first)
        next_run = float(state["next_run"])
        if now < next_run:
            return False
        following = job.next_after(next_run)
        if following <= now:  # we were down for a while: one catch-up run, then back on the grid
            following = job.next_after(now)
        self.conn.hset(key, "next_run", following)
        slot = int(next_run)
        if not self.conn.set(f"omnicrm:cron:slot:{job.name}:{slot}", self.ident, nx=True, ex=86400 * 2):
            return False  # another leader took this slot already
        enqueue(
            "app.core.scheduler.run_scheduled_job",
            job.name,
            slot,
            queue=job.queue,
            job_id=f"cron-{job.name}-{slot}",
            meta={"request_id": f"cron-{job.name}-{slot}", "actor_id": None, "actor_name": "scheduler"},
        )
        self.conn.hset(key, mapping={"last_enqueued": now})
        logger.info("scheduler enqueued %s (slot %s) on queue %s", job.name, slot, job.queue)
        return True

    def release(self) -> None:
        self._release(keys=[LEADER_KEY], args=[self.ident])
        self.conn.hdel(MEMBERS_KEY, self.ident)
        self.leading = False

    def run(self, should_stop: Callable[[], bool], tick_seconds: float = 1.0) -> None:
        """Tick until `should_stop()`; a Redis hiccup is logged and retried, never fatal."""
        logger.info("scheduler %s started: %s", self.ident, ", ".join(j.name for j in self.schedule))
        try:
            while not should_stop():
                try:
                    self.tick()
                except Exception:
                    logger.exception("scheduler tick failed; retrying")
                    self.leading = False
                time.sleep(tick_seconds)
        finally:
            try:
                self.release()
            except Exception:  # noqa: BLE001 - the lock expires by itself
                logger.warning("scheduler could not release its lock; it expires in %s s", self.lock_seconds)


@task
def run_scheduled_job(name: str, slot: int) -> Any:
    """What the scheduler enqueues: runs the job and records start, success or failure."""
    job = get_job(name, current_app.config.get("CRON_OVERRIDES", ""))
    conn = get_redis()
    key = job_key(name)
    started = time.time()
    conn.hset(key, mapping={"last_start": started})
    module, _, attr = job.func.rpartition(".")
    func = getattr(importlib.import_module(module), attr)
    try:
        result = func()
    except Exception as exc:
        conn.hset(key, mapping={"last_error": f"{type(exc).__name__}: {exc}"[:500], "last_error_at": time.time()})
        conn.hincrby(key, "failures", 1)
        logger.exception("scheduled job %s failed (slot %s)", name, slot)
        raise
    finished = time.time()
    conn.hset(key, mapping={"last_success": finished, "last_duration": round(finished - started, 3)})
    conn.hincrby(key, "runs", 1)
    conn.lpush(runs_key(name), slot)
    conn.ltrim(runs_key(name), 0, RUNS_KEEP - 1)
    logger.info("scheduled job %s finished in %.2f s", name, finished - started)
    return result


class CronStatus(StrEnum):
    OK = "ok"
    WAITING = "waiting"  # not due yet for the first time
    LATE = "late"  # no success within twice its period
    FAILING = "failing"  # the last run failed (it may be late too: see JobState.overdue)


@dataclass(frozen=True)
class JobState:
    job: ScheduledJob
    status: CronStatus
    overdue: bool
    next_run: float | None
    last_start: float | None
    last_success: float | None
    last_error: str
    last_error_at: float | None
    failures: int
    runs: int


def _f(state: dict[str, str], name: str) -> float | None:
    return float(state[name]) if state.get(name) else None


def job_states(conn: Redis, schedule: Iterable[ScheduledJob], now: float | None = None) -> list[JobState]:
    """Each job's record and verdict; `late` once twice its period passed without a success."""
    now = time.time() if now is None else now
    out = []
    for job in schedule:
        state = _hash(conn, job_key(job.name))
        success, error_at = _f(state, "last_success"), _f(state, "last_error_at")
        reference = success or _f(state, "first_scheduled")
        overdue = reference is not None and now - reference > 2 * job.period()
        if error_at and (success is None or error_at > success):
            status = CronStatus.FAILING
        elif overdue:
            status = CronStatus.LATE
        else:
            status = CronStatus.OK if success else CronStatus.WAITING
        out.append(
            JobState(
                job,
                status,
                overdue,
                _f(state, "next_run"),
                _f(state, "last_start"),
                success,
                state.get("last_error", ""),
                error_at,
                int(state.get("failures") or 0),
                int(state.get("runs") or 0),
            )
        )
    return out


@dataclass(frozen=True)
class SchedulerStatus:
    up: bool
    leader: str
    heartbeat_age: float | None
    standbys: list[str]
    restarts: int
    last_restart_at: float | None
    last_exit: str

    @property
    def reason(self) -> str:
        if self.up:
            return f"last beat {self.heartbeat_age:.0f} s ago"
        if self.heartbeat_age is None:
            return "no scheduler has ever run: start `python worker.py` (without --no-cron)"
        return f"no scheduler heartbeat for {self.heartbeat_age:.0f} s: the scheduler is down"


def scheduler_status(conn: Redis, lock_seconds: int, now: float | None = None) -> SchedulerStatus:
    """Up while the leader's heartbeat is younger than twice the lock's life."""
    now = time.time() if now is None else now
    state = _hash(conn, STATUS_KEY)
    beat = _f(state, "heartbeat")
    age = None if beat is None else max(0.0, now - beat)
    members = {_s(k): float(v) for k, v in conn.hgetall(MEMBERS_KEY).items()}
    leader = state.get("leader", "")
    fresh = 2 * max(2, lock_seconds)
    standbys = sorted(m for m, ts in members.items() if m != leader and now - ts <= fresh)
    return SchedulerStatus(
        up=age is not None and age <= fresh,
        leader=leader,
        heartbeat_age=age,
        standbys=standbys,
        restarts=int(state.get("restarts") or 0),
        last_restart_at=_f(state, "last_restart_at"),
        last_exit=state.get("last_exit", ""),
    )


def record_restart(conn: Redis, exit_code: int | None) -> None:
    """The supervising worker saw its scheduler process die (shown on the Queues page)."""
    conn.hincrby(STATUS_KEY, "restarts", 1)
    conn.hset(STATUS_KEY, mapping={"last_restart_at": time.time(), "last_exit": str(exit_code)})


def snapshot(config: Any) -> tuple[SchedulerStatus, list[JobState]]:
    """What the Queues page, `/metrics` and `/healthz/scheduler` show (raises when Redis is down)."""
    conn = get_redis(config)
    now = time.time()
    status = scheduler_status(conn, int(config.get("SCHEDULER_LOCK_SECONDS", 15)), now)
    return status, job_states(conn, jobs(config.get("CRON_OVERRIDES", "")), now)
