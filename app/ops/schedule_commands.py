"""`flask omnicrm jobs list|run`: the schedule, its state, and running a job by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.context import acting_as, cli_actor
from app.core.queues import enqueue as enqueue_job
from app.core.schedule import UnknownJobError, get_job
from app.core.scheduler import run_scheduled_job, snapshot

jobs_cli = AppGroup("jobs", help="Scheduled jobs: list them with their state, or run one now.")


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "never"


@jobs_cli.command("list")
def list_command() -> None:
    """The schedule, each job's last success and next run, and whether a scheduler is up."""
    try:
        status, states = snapshot(current_app.config)
    except Exception as exc:  # noqa: BLE001 - Redis down: say so instead of a traceback
        raise click.ClickException(f"Redis is not reachable ({type(exc).__name__}); check REDIS_URL") from None
    leader = f"leader {status.leader}, " if status.up else ""
    click.echo(f"scheduler: {'up' if status.up else 'DOWN'} ({leader}{status.reason})")
    click.echo(f"{'job':24} {'schedule':26} {'queue':9} {'status':8} {'last success (UTC)':20} {'next run (UTC)':20}")
    for s in states:
        flag = "OVERDUE" if s.overdue else str(s.status)
        click.echo(
            f"{s.job.name:24} {s.job.schedule_text:26} {s.job.queue:9} {flag:8} "
            f"{_when(s.last_success):20} {_when(s.next_run):20}"
        )


@jobs_cli.command("check")
def check_command() -> None:
    """Exit 1 when no scheduler beats or a job is overdue (a container health check)."""
    try:
        status, states = snapshot(current_app.config)
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(f"Redis is not reachable ({type(exc).__name__}); check REDIS_URL") from None
    late = [s.job.name for s in states if s.overdue]
    if not status.up or late:
        problem = status.reason if not status.up else f"overdue: {', '.join(late)}"
        raise click.ClickException(f"scheduler unhealthy: {problem}")
    click.echo(f"scheduler ok: leader {status.leader}, {status.reason}")


@jobs_cli.command("run")
@click.argument("name")
@click.option("--enqueue", is_flag=True, help="Put it on its queue for a worker instead of running it here.")
def run_command(name: str, enqueue: bool) -> None:
    """Run scheduled job NAME now (recorded like a scheduled run)."""
    try:
        job = get_job(name, current_app.config.get("CRON_OVERRIDES", ""))
    except UnknownJobError as exc:
        raise click.UsageError(str(exc)) from None
    slot = int(time.time())
    with acting_as(cli_actor()):
        if enqueue:
            enqueue_job("app.core.scheduler.run_scheduled_job", job.name, slot, queue=job.queue)
            click.echo(f"{job.name} queued on {job.queue}; `flask omnicrm jobs list` shows its result.")
            return
        try:
            result = run_scheduled_job(job.name, slot)
        except Exception as exc:  # noqa: BLE001 - recorded and logged by the job; a clear line here
            raise click.ClickException(f"{job.name} failed: {type(exc).__name__}: {exc}") from None
    click.echo(f"{job.name} done: {result}")


def register(group: AppGroup) -> None:
    group.add_command(jobs_cli)
