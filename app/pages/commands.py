"""`flask omnicrm page instagram`: link a connected Page's Instagram professional account."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.core.context import acting_as, cli_actor
from app.pages import services
from app.pages.exceptions import PageError


def register(group: AppGroup) -> None:
    """Add the Instagram subcommand to `flask omnicrm page`."""

    @group.command("instagram")
    @click.option("--page-id", required=True, help="Numeric Facebook Page id (already connected).")
    @click.option("--ig-id", required=True, help="Instagram professional account id; '' unlinks it.")
    def page_instagram_command(page_id: str, ig_id: str) -> None:
        """Link the Page's Instagram account: its Direct messages then arrive in the inbox."""
        try:
            with acting_as(cli_actor()):
                page = services.link_instagram(page_id, ig_id)
        except PageError as exc:
            raise click.UsageError(str(exc)) from exc
        if page.ig_account_id:
            click.echo(f"Page {page.name} ({page.fb_page_id}) linked to Instagram account {page.ig_account_id}.")
        else:
            click.echo(f"Page {page.name} ({page.fb_page_id}) has no Instagram account linked.")
