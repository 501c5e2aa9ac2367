"""`flask omnicrm simulate`: signed sample Messenger events posted to the local webhook.

Lets a new user watch messages arrive without a Facebook app: the events are shaped like
Meta's documented examples and signed with FB_APP_SECRET exactly as Meta signs them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import click
import requests
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app import db
from app.pages.models import Page
from app.webhooks.ingest import sign
from app.webhooks.instagram_samples import sample_instagram_events

logger = logging.getLogger(__name__)


def sample_events(page_id: str, psid: str, now_ms: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """A short conversation: text, attachment, postback, reaction, delivery and read."""
    now = now_ms or int(time.time() * 1000)
    tag = uuid.uuid4().hex[:12]
    mid_text = f"m_sim_{tag}_1"

    def wrap(ts: int, item: dict[str, Any]) -> dict[str, Any]:
        event = {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": ts, **item}
        return {"object": "page", "entry": [{"id": page_id, "time": ts, "messaging": [event]}]}

    return [
        ("text", wrap(now, {"message": {"mid": mid_text, "text": "Hello! Is my order on its way?"}})),
        (
            "attachment",
            wrap(
                now + 1000,
                {
                    "message": {
                        "mid": f"m_sim_{tag}_2",
                        "attachments": [
                            {"type": "image", "payload": {"url": "https://example.invalid/simulated/photo.jpg"}}
                        ],
                    }
                },
            ),
        ),
        (
            "postback",
            wrap(
                now + 2000,
                {"postback": {"mid": f"m_sim_{tag}_3", "title": "Track my order", "payload": "TRACK_ORDER"}},
            ),
        ),
        (
            "reaction",
            wrap(now + 3000, {"reaction": {"reaction": "love", "emoji": "\u2764", "action": "react", "mid": mid_text}}),
        ),
        ("delivery", wrap(now + 4000, {"delivery": {"mids": [], "watermark": now + 4000}})),
        ("read", wrap(now + 5000, {"read": {"watermark": now + 5000}})),
    ]


def _simulated_page(page_id: str | None, instagram: bool) -> Page:
    """The page to simulate for: the given one, else the first (the first linked to Instagram)."""
    query = select(Page).order_by(Page.id).limit(1)
    if page_id is not None:
        query = query.where(Page.fb_page_id == page_id)
    if instagram:
        query = query.where(Page.ig_account_id.is_not(None))
    page = db.session.scalar(query)
    if page is None and instagram:
        raise click.ClickException(
            "no page linked to an Instagram account: run `flask omnicrm page instagram --page-id ID --ig-id IGID`"
        )
    if page is None:
        raise click.ClickException("no page connected: run `flask omnicrm demo` or `omnicrm page add` first")
    return page


def register(group: AppGroup) -> None:
    """Add this domain's commands to `flask omnicrm`."""

    @group.command("simulate")
    @click.option("--url", default=None, help="Webhook URL (default: PUBLIC_BASE_URL/webhooks/messenger).")
    @click.option("--page-id", default=None, help="Facebook Page id (default: the first connected page).")
    @click.option("--psid", default=None, help="Sender PSID or IGSID (default: a new random one).")
    @click.option(
        "--channel",
        type=click.Choice(["messenger", "instagram"]),
        default="messenger",
        show_default=True,
        help="instagram: Instagram Direct events for the page's linked Instagram account.",
    )
    def simulate_command(url: str | None, page_id: str | None, psid: str | None, channel: str) -> None:
        """Post signed sample Messenger (or Instagram Direct) events to the local webhook."""
        instagram = channel == "instagram"
        if page_id is None or instagram:
            page = _simulated_page(page_id, instagram)
            page_id = page.ig_account_id if instagram else page.fb_page_id
        assert page_id is not None  # the linked account, checked by _simulated_page
        url = url or current_app.config["PUBLIC_BASE_URL"] + "/webhooks/messenger"
        psid = psid or str(7_000_000_000_000_000 + uuid.uuid4().int % 1_000_000_000_000_000)
        secret = current_app.config["FB_APP_SECRET"]
        what = f"Instagram account {page_id}, IGSID" if instagram else f"page {page_id}, PSID"
        click.echo(f"Posting sample events for {what} …{psid[-4:]} to {url}")
        samples = sample_instagram_events(page_id, psid) if instagram else sample_events(page_id, psid)
        with requests.Session() as session:
            for label, payload in samples:
                body = json.dumps(payload, separators=(",", ":")).encode()
                try:
                    resp = session.post(
                        url,
                        data=body,
                        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)},
                        timeout=10,
                    )
                except requests.ConnectionError:
                    raise click.ClickException(
                        f"cannot reach {url}: is the server running? (start it with `python run.py`)"
                    ) from None
                except requests.RequestException as exc:
                    raise click.ClickException(f"posting to {url} failed: {type(exc).__name__}") from None
                click.echo(f"  {label:<10} -> HTTP {resp.status_code}")
                if resp.status_code != 200:
                    raise click.ClickException(f"the webhook answered {resp.status_code}: {resp.text[:200]}")
        click.echo("Done: a worker (`python worker.py`) turns them into a conversation.")
