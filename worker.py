"""RQ worker(s) for every queue plus the cron scheduler: `python worker.py`.

Options: `--queues webhooks,outbound` to listen to some queues only, `--no-cron` on extra
workers (one scheduler per deployment is enough; duplicates are harmless but wasteful),
`--burst` to drain the queues and exit.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys

from app import create_app
from app.core.queues import QUEUE_NAMES, get_redis

logger = logging.getLogger("omnicrm.worker")


def run_cron(app_config_redis: dict) -> None:
    """The RQ cron scheduler, in its own process."""
    from rq.cron import CronScheduler

    from app.core.schedule import register_jobs

    app = create_app()
    with app.app_context():
        scheduler = CronScheduler(connection=get_redis(), name="omnicrm-cron")
        register_jobs(scheduler)
        scheduler.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", default=",".join(QUEUE_NAMES))
    parser.add_argument("--no-cron", action="store_true")
    parser.add_argument("--burst", action="store_true")
    args = parser.parse_args(argv)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = set(queues) - set(QUEUE_NAMES)
    if unknown:
        parser.error(f"unknown queue(s): {', '.join(sorted(unknown))}; choose from {', '.join(QUEUE_NAMES)}")

    app = create_app()
    from rq import SimpleWorker

    from app.core.queues import set_worker_app

    # No app context around the loop: each job opens its own (see app.core.queues.task).
    set_worker_app(app)
    connection = get_redis(app.config)
    try:
        connection.ping()
    except Exception as exc:  # noqa: BLE001
        print(f"error: Redis is not reachable ({type(exc).__name__}); check REDIS_URL", file=sys.stderr)
        return 2
    cron = None
    if not args.no_cron and not args.burst:
        cron = multiprocessing.Process(target=run_cron, args=({},), name="omnicrm-cron", daemon=True)
        cron.start()
    worker = SimpleWorker(queues, connection=connection)
    logger.info("worker listening on %s", ", ".join(queues))
    try:
        worker.work(burst=args.burst, with_scheduler=True)
    finally:
        if cron is not None:
            cron.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
