"""RQ worker(s) for every queue plus the cron scheduler: `python worker.py`.

Options: `--queues webhooks,outbound` to listen to some queues only, `--no-cron` on extra
workers, `--cron-only` for a process that only schedules, `--burst` to drain the queues and
exit. Any number of processes may run the scheduler: one leader enqueues (a Redis lock), the
others stand by and take over within `SCHEDULER_LOCK_SECONDS` when it dies.

The scheduler runs in its own process (`worker.py --cron-only --parent-pid N`), a fresh
interpreter that builds the app once. The worker watches it: when it dies, the death is
logged, counted (Queues page, `/metrics`) and the scheduler is started again with a backoff.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rq import SimpleWorker

from app import create_app
from app.core.queues import QUEUE_NAMES, get_redis, set_worker_app
from app.core.schedule import jobs
from app.core.scheduler import Scheduler, record_restart

logger = logging.getLogger("omnicrm.worker")
MAX_BACKOFF = 60.0


def run_scheduler(parent_pid: int | None) -> int:
    """The scheduler loop in this process; returns when signalled or when the parent is gone."""
    app = create_app()
    connection = get_redis(app.config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def should_stop() -> bool:
        return stop.is_set() or (parent_pid is not None and os.getppid() != parent_pid)

    scheduler = Scheduler(
        connection, jobs(app.config["CRON_OVERRIDES"]), lock_seconds=app.config["SCHEDULER_LOCK_SECONDS"]
    )
    with app.app_context():
        scheduler.run(should_stop)
    logger.info("scheduler %s stopped", scheduler.ident)
    return 0


class SchedulerSupervisor(threading.Thread):
    """Keeps one scheduler process alive beside this worker; a death is logged and counted.

    The child is started with posix_spawn, not subprocess.Popen: Popen waits on a pipe that a
    process forked meanwhile by another thread (RQ forks its own scheduler) would inherit and
    hold open, blocking this thread for good.
    """

    def __init__(self, app_config: dict[str, Any]) -> None:
        super().__init__(name="scheduler-supervisor", daemon=True)
        self.app_config = app_config
        self.pid: int | None = None
        self.stopping = threading.Event()

    def _spawn(self) -> int:
        args = [sys.executable, str(Path(__file__).resolve()), "--cron-only", "--parent-pid", str(os.getpid())]
        # its own session: a Ctrl-C or group signal stops the worker, which then stops it
        pid = os.posix_spawn(sys.executable, args, os.environ, setsid=True)
        logger.info("scheduler process started (pid %s)", pid)
        return pid

    def run(self) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.pid = self._spawn()
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            dead, self.pid = self.pid, None  # reaped: its number may be reused
            if self.stopping.is_set():
                return
            backoff = 1.0 if time.monotonic() - started > MAX_BACKOFF else min(backoff * 2, MAX_BACKOFF)
            logger.error("scheduler process %s died (exit code %s); restarting in %.0f s", dead, code, backoff)
            try:
                record_restart(get_redis(self.app_config), code)
            except Exception:  # noqa: BLE001 - Redis down: the log line above still tells
                logger.warning("could not record the scheduler restart in Redis")
            self.stopping.wait(backoff)

    def stop(self) -> None:
        self.stopping.set()
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if self.pid is None or not self.is_alive():
                return
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                return
            self.join(timeout=wait)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queues", default=",".join(QUEUE_NAMES))
    parser.add_argument("--no-cron", action="store_true", help="do not run a scheduler beside this worker")
    parser.add_argument("--cron-only", action="store_true", help="only run the scheduler (no queue worker)")
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--burst", action="store_true")
    args = parser.parse_args(argv)
    if args.cron_only and args.no_cron:
        parser.error("--cron-only and --no-cron exclude each other")
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = set(queues) - set(QUEUE_NAMES)
    if unknown:
        parser.error(f"unknown queue(s): {', '.join(sorted(unknown))}; choose from {', '.join(QUEUE_NAMES)}")
    if args.cron_only:
        return run_scheduler(args.parent_pid)

    app = create_app()

    # No app context around the loop: each job opens its own (see app.core.queues.task).
    set_worker_app(app)
    connection = get_redis(app.config)
    try:
        connection.ping()
    except Exception as exc:  # noqa: BLE001
        print(f"error: Redis is not reachable ({type(exc).__name__}); check REDIS_URL", file=sys.stderr)
        return 2
    supervisor = None
    if not args.no_cron and not args.burst:
        supervisor = SchedulerSupervisor(dict(app.config))
        supervisor.start()
    worker = SimpleWorker(queues, connection=connection)
    logger.info("worker listening on %s", ", ".join(queues))
    try:
        worker.work(burst=args.burst, with_scheduler=True)
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
