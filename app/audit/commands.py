"""`flask omnicrm audit ...`: verify the chain, export rows."""

from __future__ import annotations

import logging
import sys
import time

import click
from flask.cli import AppGroup

logger = logging.getLogger(__name__)

audit_cli = AppGroup("audit", help="The tamper-evident audit log.")


@audit_cli.command("verify")
@click.option("--batch", default=10_000, show_default=True, help="Rows fetched per round trip.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes (PostgreSQL).")
def verify_command(batch: int, workers: int) -> None:
    """Walk the hash chain in id order; exit 1 at the first broken row."""
    from app.audit import service

    started = time.perf_counter()
    result = service.verify_chain(batch=batch, workers=workers)
    elapsed = time.perf_counter() - started
    if result.ok:
        click.echo(f"OK: {result.rows} rows verified in {elapsed:.1f}s.")
        return
    click.echo(f"BROKEN at row {result.broken_id}: {result.reason} ({result.rows} rows verified before it).", err=True)
    sys.exit(1)


@audit_cli.command("export")
@click.option("--since", default=None, help="ISO date/time (UTC), inclusive.")
@click.option("--until", default=None, help="ISO date/time (UTC), exclusive.")
@click.option("--output", type=click.File("w"), default="-", help="CSV file (default stdout).")
def export_command(since: str | None, until: str | None, output) -> None:
    """Write audit rows as CSV (cells guarded against spreadsheet formulas); itself audited."""
    from datetime import datetime

    from app import db
    from app.audit import views
    from app.core.cli import cli_actor
    from app.core.context import acting_as

    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError as exc:
        raise click.UsageError(f"bad date: {exc}") from exc
    with acting_as(cli_actor()):
        count = views.write_csv(output, views.filtered_query(start=start, end=end))
        from app.audit.service import record

        record("audit_exported", "audit_log", None, {"rows": count, "since": since, "until": until, "via": "cli"})
        db.session.commit()
    click.echo(f"{count} rows exported.", err=True)


def register(group: AppGroup) -> None:
    """Add this domain's commands to `flask omnicrm`."""
    group.add_command(audit_cli)
