"""`flask omnicrm search backfill | rebuild | status`."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from app import db
from app.conversations.models import Message
from app.core.context import acting_as, cli_actor
from app.search import rebuild, services
from app.search.exceptions import SearchError
from app.search.models import MessageSearchToken, SearchIndexState


def _run(mode: str, batch_size: int, restart: bool) -> None:
    try:
        with acting_as(cli_actor()):
            report = rebuild.do_run(mode, batch_size, restart=restart, echo=click.echo)
    except SearchError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"{mode} done: {report.scanned} messages scanned, {report.indexed} indexed, {report.tokens} tokens written"
        + (f" (resumed after message {report.resumed_from})" if report.resumed_from else "")
    )


def register(group: AppGroup) -> None:
    search = AppGroup("search", help="The blind index of message words (docs/search.md).")
    group.add_command(search)
    batch_option = click.option(
        "--batch-size", default=rebuild.DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(1, 100000)
    )

    @search.command("backfill")
    @batch_option
    @click.option("--restart", is_flag=True, help="Start from the first message instead of resuming.")
    def backfill_command(batch_size: int, restart: bool) -> None:
        """Index the messages that have no tokens yet (stored before indexing). Resumable."""
        _run("backfill", batch_size, restart)

    @search.command("rebuild")
    @batch_option
    @click.option("--restart", is_flag=True, help="Start from the first message instead of resuming.")
    def rebuild_command(batch_size: int, restart: bool) -> None:
        """Re-write every message's tokens under the current SEARCH_KEY (after rotating it). Resumable."""
        _run("rebuild", batch_size, restart)

    @search.command("status")
    def status_command() -> None:
        """Tokens, indexed messages, and each run's progress under the current key."""
        tokens = db.session.scalar(select(func.count()).select_from(MessageSearchToken)) or 0
        messages = db.session.scalar(select(func.count(Message.id))) or 0
        click.echo(f"{tokens} tokens for {messages} messages")
        fingerprint = services.key_fingerprint()
        for state in db.session.scalars(select(SearchIndexState).order_by(SearchIndexState.name)):
            key = "current key" if state.key_fingerprint == fingerprint else "another key"
            where = "complete" if state.done else f"after message {state.last_message_id}"
            click.echo(f"  {state.name}: {where} ({key})")
