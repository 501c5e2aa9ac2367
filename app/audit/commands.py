"""`flask omnicrm audit ...`: verify the chain, export rows, archive old rows."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click
from flask import current_app
from flask.cli import AppGroup

from app import db
from app.audit import views
from app.audit.archive import ArchiveError, archive_before
from app.audit.service import record
from app.audit.verify import verify_chain
from app.core.context import acting_as, cli_actor

logger = logging.getLogger(__name__)

audit_cli = AppGroup("audit", help="The tamper-evident audit log.")


@audit_cli.command("verify")
@click.option("--batch", default=10_000, show_default=True, help="Rows fetched per round trip.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes (PostgreSQL).")
def verify_command(batch: int, workers: int) -> None:
    """Walk the hash chain in id order; exit 1 at the first broken row."""
    started = time.perf_counter()
    result = verify_chain(batch=batch, workers=workers)
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
def export_command(since: str | None, until: str | None, output: IO[str]) -> None:
    """Write audit rows as CSV (cells guarded against spreadsheet formulas); itself audited."""
    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError as exc:
        raise click.UsageError(f"bad date: {exc}") from exc
    with acting_as(cli_actor()):
        count = views.write_csv(output, views.filtered_query(start=start, end=end))
        record("audit_exported", "audit_log", None, {"rows": count, "since": since, "until": until, "via": "cli"})
        db.session.commit()
    click.echo(f"{count} rows exported.", err=True)


@audit_cli.command("archive")
@click.option("--before", required=True, help="Archive rows created before this ISO date/time (UTC).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for the archive file (default: instance/audit-archive).",
)
def archive_command(before: str, out_dir: str | None) -> None:
    """Move old audit rows to a verified file and start a new signed chain segment."""
    try:
        cutoff = datetime.fromisoformat(before)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date/time: {before!r}", param_hint="--before") from exc
    if cutoff.tzinfo is not None:
        cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)
    folder = Path(out_dir) if out_dir else Path(current_app.instance_path) / "audit-archive"
    try:
        with acting_as(cli_actor()):
            result = archive_before(cutoff, folder)
    except ArchiveError as exc:
        raise click.ClickException(str(exc)) from exc
    if not result.rows:
        click.echo(f"No audit rows before {cutoff.isoformat()}: nothing archived.")
        return
    click.echo(
        f"Archived {result.rows} rows (through id {result.through_id}) to {result.path}\n"
        f"SHA-256 {result.sha256}; the live chain now starts after row {result.through_id}."
    )


def register(group: AppGroup) -> None:
    """Add this domain's commands to `flask omnicrm`."""
    group.add_command(audit_cli)
