"""`flask omnicrm channels check [--fix]` and `flask omnicrm channels backfill --page-id ID --since ISO`."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app import db
from app.core.context import acting_as, cli_actor
from app.pages import backfill, health
from app.pages.exceptions import PageError
from app.pages.models import HealthStatus, Page

channels_cli = AppGroup("channels", help="Channel health: check pages, recover missed messages.")


@channels_cli.command("check")
@click.option("--fix", is_flag=True, help="Re-subscribe the app where its webhook subscription is missing.")
def check_command(fix: bool) -> None:
    """Check every page's token, permissions, subscription, API version and freshness."""
    with acting_as(cli_actor()):
        results = health.do_check_all(fix=fix)
    if not results:
        click.echo("No pages connected: add one with `flask omnicrm page add`.")
        return
    for r in results:
        extra = " (re-subscribed)" if r.resubscribed else ""
        click.echo(f"{r.name} ({r.fb_page_id}): {r.status.value}{extra} — {r.reason}")
    if any(r.status == HealthStatus.FAILING for r in results):
        raise SystemExit(1)


@channels_cli.command("backfill")
@click.option("--page-id", "page_id", required=True, help="The Facebook Page id (as in `page add`).")
@click.option("--since", required=True, help="ISO date or time (UTC unless it has an offset), e.g. 2026-11-29T08:00Z.")
def backfill_command(page_id: str, since: str) -> None:
    """Recover messages Meta still has that the product missed (sends nothing)."""
    page = db.session.scalar(select(Page).where(Page.fb_page_id == page_id.strip()))
    if page is None:
        known = ", ".join(db.session.scalars(select(Page.fb_page_id).order_by(Page.fb_page_id))) or "none"
        raise click.UsageError(f"no page with Facebook Page id {page_id!r} (connected: {known})")
    try:
        start = backfill.parse_since(since)
        with acting_as(cli_actor()):
            report = backfill.do_backfill(page, start)
    except PageError as exc:
        raise click.UsageError(str(exc)) from exc
    for c in report.conversations:
        if c.inserted or c.known:
            click.echo(
                f"  conversation {c.conversation_id} ({c.psid_tail}): {c.inserted} recovered, {c.known} already present"
            )
    click.echo(
        f"{report.inserted} message(s) recovered, {report.known} already present, "
        f"{report.calls} Graph call(s), since {start.isoformat()} UTC."
    )


def register(group: AppGroup) -> None:
    group.add_command(channels_cli)
