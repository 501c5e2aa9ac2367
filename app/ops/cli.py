"""`flask omnicrm ...` commands. Each domain owns its subcommands; this wires them up."""

from __future__ import annotations

import logging
import sys
from typing import IO

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app import appbuilder, db
from app.audit.commands import register as register_audit
from app.core.context import acting_as, cli_actor
from app.core.roles import ALL_ROLES, ROLE_PUBLIC
from app.devtools import demo
from app.ops.doctor import register as register_doctor
from app.ops.keys import register as register_keys
from app.ops.schedule_commands import register as register_jobs
from app.pages import health, services
from app.pages.channels_commands import register as register_channels
from app.pages.commands import register as register_page_instagram
from app.pages.exceptions import PageError
from app.privacy.commands import register as register_privacy
from app.privacy.menu_commands import register as register_page_menu
from app.search.commands import register as register_search
from app.webhooks.commands import register as register_webhooks

logger = logging.getLogger(__name__)

omnicrm = AppGroup("omnicrm", help="Omni CRM administration.")
page_cli = AppGroup("page", help="Connected Facebook Pages.")
omnicrm.add_command(page_cli)
register_page_instagram(page_cli)
register_page_menu(page_cli)


def ensure_roles() -> list[str]:
    """Create the roles (idempotent); permissions come from FAB_ROLES in config."""
    sm = appbuilder.sm
    created = []
    for name in (*ALL_ROLES, ROLE_PUBLIC):
        if sm.find_role(name) is None:
            sm.add_role(name)
            created.append(name)
    return created


@omnicrm.command("init")
def init_command() -> None:
    """Create the roles and their permissions (safe to run again)."""
    with acting_as(cli_actor()):
        created = ensure_roles()
        db.session.commit()
    click.echo(f"Roles ready: {', '.join(ALL_ROLES)}" + (f" (created: {', '.join(created)})" if created else ""))


@omnicrm.command("demo")
@click.option(
    "--contacts",
    default=300,
    show_default=True,
    help="How many demo contacts to create.",
)
def demo_command(contacts: int) -> None:
    """Demo users for every role, two pages, contacts and conversations."""
    if current_app.config.get("OMNICRM_ENV") == "production":
        # Demo users have printed, well-known passwords and demo data mixes with real contacts.
        raise click.ClickException(
            "refusing to seed demo data in production (OMNICRM_ENV=production): demo accounts have "
            "known passwords. Use `flask fab create-admin` for the first account, or run the demo "
            "against a development or testing instance."
        )

    with acting_as(cli_actor()):
        ensure_roles()
        users = demo.seed(contacts=contacts, progress=lambda msg: click.echo(msg))
    click.echo("\nDemo logins (user / password / role):")
    for username, password, role in users:
        click.echo(f"  {username:10} {password:24} {role}")


@page_cli.command("add")
@click.option("--page-id", required=True, help="Numeric Facebook Page id.")
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--token-file",
    type=click.File("r"),
    default=None,
    help="File holding the page access token.",
)
@click.option("--retention-days", default=365, show_default=True, type=click.IntRange(1, 3650))
def page_add_command(page_id: str, name: str, token_file: IO[str] | None, retention_days: int) -> None:
    """Connect a page. The token is read from --token-file or stdin, never from argv."""
    if token_file is not None:
        token = token_file.read()
    else:
        if sys.stdin.isatty():
            token = click.prompt("Page access token", hide_input=True)
        else:
            token = sys.stdin.read()
    try:
        token, warning = health.check_new_token(token, page_id)
        with acting_as(cli_actor()):
            page = services.add_page(page_id, name, token, retention_days)
    except PageError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Page {page.name} ({page.fb_page_id}) connected; token ends in …{page.token_last4}.")
    if warning:
        click.echo(f"Warning: {warning}.", err=True)


def register_cli(app: Flask) -> None:

    for register in (
        register_audit,
        register_channels,
        register_doctor,
        register_keys,
        register_jobs,
        register_privacy,
        register_webhooks,
        register_search,
    ):
        register(omnicrm)
    if "omnicrm" not in app.cli.commands:
        app.cli.add_command(omnicrm)


__all__ = ["cli_actor", "current_app", "ensure_roles", "omnicrm"]
