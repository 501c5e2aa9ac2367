"""`flask omnicrm page menu`: the "Privacy" entries of a page's Messenger menu and ice breakers."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.core.context import acting_as, cli_actor
from app.privacy.page_menu import PageMenuError, set_privacy_menu


def register(group: AppGroup) -> None:
    """Add the menu subcommand to `flask omnicrm page`."""

    @group.command("menu")
    @click.option("--page-id", required=True, help="Numeric Facebook Page id (already connected).")
    def page_menu_command(page_id: str) -> None:
        """Add the Privacy postbacks to the page's persistent menu (and Instagram ice breakers),
        keeping the page's own entries; running it again changes nothing."""
        try:
            with acting_as(cli_actor()):
                result = set_privacy_menu(page_id)
        except PageMenuError as exc:
            raise click.ClickException(str(exc)) from exc
        for line in result.lines():
            click.echo(line)
