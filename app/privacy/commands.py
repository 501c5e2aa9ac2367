"""`flask omnicrm retention run` (and friends) of the privacy domain."""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup

from app import appbuilder
from app.core.context import acting_as, cli_actor
from app.privacy import accounts, export, retention

logger = logging.getLogger(__name__)

retention_cli = AppGroup("retention", help="Data retention (privacy policy section 8).")


@retention_cli.command("run")
def retention_run_command() -> None:
    """Apply retention now and print what was removed per page."""
    with acting_as(cli_actor()):
        report = retention.run_retention()
        expired = export.purge_expired_exports()
    for line in report.lines():
        click.echo(line)
    click.echo(f"expired export files: {expired} removed")


account_cli = AppGroup("account", help="Staff accounts (privacy policy section 7).")


@account_cli.command("delete")
@click.argument("username")
def account_delete_command(username: str) -> None:
    """Open an account-deletion request for a staff user (a privacy officer approves it)."""
    user = appbuilder.sm.find_user(username=username)
    if user is None:
        raise click.UsageError(f"no user named {username!r}")
    with acting_as(cli_actor()):
        req = accounts.request_account_deletion(user.id)
    click.echo(f"Account deletion request #{req.id} opened (due {req.due_at.date().isoformat()}).")


def register(group: AppGroup) -> None:
    """Add this domain's commands to `flask omnicrm`."""
    group.add_command(retention_cli)
    group.add_command(account_cli)
