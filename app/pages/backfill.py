"""Recovery of messages missed during an outage, from Meta's Conversations API.

`do_backfill(page, since)` reads `GET /{page-id}/conversations?platform=messenger|instagram`
(with each conversation's messages, paged), and inserts every message newer than `since` that
the product does not have, matched by `mid`: in the order they were written, never twice,
marked `recovered`, without sending anything. Calls are paced at `CHANNEL_BACKFILL_RATE` per
second (Meta allows 2 per page) with backoff on the throttling codes 4 / 17 / 613. One
backfill per page runs at a time (a Redis lock). Erased people's messages are never recovered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from app import db
from app.audit.service import record
from app.core.models import utcnow
from app.core.queues import enqueue, get_redis
from app.messenger.channel_client import ChannelGraphClient, channel_client_from_config
from app.messenger.client import GraphError
from app.pages.backfill_store import ConversationCount, Thread, store_batch
from app.pages.exceptions import PageError
from app.pages.models import Page

logger = logging.getLogger(__name__)

LOCK_KEY = "omnicrm:backfill:page:{}"
LOCK_SECONDS = 3600
#: a batch (one transaction) closes at this many threads or messages
BATCH_THREADS = 50
BATCH_MESSAGES = 2000


@dataclass
class BackfillReport:
    page_id: int
    since: datetime
    conversations: list[ConversationCount] = field(default_factory=list)
    calls: int = 0

    @property
    def inserted(self) -> int:
        return sum(c.inserted for c in self.conversations)

    @property
    def known(self) -> int:
        return sum(c.known for c in self.conversations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "since": self.since.isoformat(),
            "inserted": self.inserted,
            "already_present": self.known,
            "graph_calls": self.calls,
            "conversations": [
                {"conversation_id": c.conversation_id, "psid": c.psid_tail, "inserted": c.inserted, "known": c.known}
                for c in self.conversations
                if c.inserted or c.known
            ],
        }


def parse_since(value: str) -> datetime:
    """An ISO date or date-time (UTC when no offset) as naive UTC; refusal names the format."""
    text = (value or "").strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PageError(f"{text!r} is not an ISO date or time, e.g. 2026-11-29 or 2026-11-29T08:00:00Z") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if parsed > utcnow():
        raise PageError("the start of the backfill is in the future")
    return parsed


def graph_time(value: Any) -> datetime | None:
    """Graph's `2026-11-29T10:00:00+0000` as naive UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _attachments(raw: Any) -> list[dict[str, str]]:
    data = raw.get("data") if isinstance(raw, dict) else None
    out = []
    for item in data or []:
        if not isinstance(item, dict):
            continue
        for key, kind in (("image_data", "image"), ("video_data", "video")):
            if isinstance(item.get(key), dict) and item[key].get("url"):
                out.append({"type": kind, "url": str(item[key]["url"])})
                break
        else:
            if item.get("file_url"):
                out.append({"type": "file", "url": str(item["file_url"])})
    return out


def _own_ids(page: Page) -> set[str]:
    ids = {page.fb_page_id}
    ig = getattr(page, "ig_account_id", None)
    if ig:
        ids.add(str(ig))
    return ids


def _participant(conv: dict[str, Any], own: set[str]) -> str | None:
    parts = (conv.get("participants") or {}).get("data") if isinstance(conv.get("participants"), dict) else None
    for p in parts or []:
        if isinstance(p, dict) and p.get("id") and str(p["id"]) not in own:
            return str(p["id"])
    return None


def _messages(client: ChannelGraphClient, token: str, conv: dict[str, Any], since: datetime) -> list[dict[str, Any]]:
    """The conversation's messages newer than `since`, oldest first (Graph pages newest first)."""
    raw = conv.get("messages")
    block: dict[str, Any] = raw if isinstance(raw, dict) else {}
    rows = [m for m in block.get("data") or [] if isinstance(m, dict)]
    oldest = graph_time(rows[-1].get("created_time")) if rows else None
    paging = block.get("paging") or {}
    after = (paging.get("cursors") or {}).get("after") if isinstance(paging, dict) and paging.get("next") else None
    if after and oldest is not None and oldest >= since and conv.get("id"):
        for m in client.conversation_messages(str(conv["id"]), token, str(after)):
            rows.append(m)
            created = graph_time(m.get("created_time"))
            if created is not None and created < since:
                break
    keep = [(graph_time(m.get("created_time")), m) for m in rows if m.get("id")]
    ordered = sorted(
        ((t, m) for t, m in keep if t is not None and t >= since), key=lambda tm: (tm[0], str(tm[1]["id"]))
    )
    return [dict(m, _created=t) for t, m in ordered]


def _conversations(client: ChannelGraphClient, page: Page, since: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
    platforms = ["messenger"] + (["instagram"] if getattr(page, "ig_account_id", None) else [])
    for platform in platforms:
        for conv in client.conversations(page.fb_page_id, page.access_token or "", platform):
            updated = graph_time(conv.get("updated_time"))
            if updated is not None and updated < since:
                break  # newest first: nothing older can hold a message after `since`
            yield platform, conv


def do_backfill(page: Page, since: datetime, *, client: ChannelGraphClient | None = None) -> BackfillReport:
    """Recover the page's messages since `since`; audited with the counts. Sends nothing."""
    if not page.access_token:
        raise PageError("the page has no access token: connect it first")
    lock = get_redis().set(LOCK_KEY.format(page.id), "1", nx=True, ex=LOCK_SECONDS)
    if not lock:
        raise PageError("a backfill of this page is already running")
    own_client = client is None
    client = client or paced_client()
    report = BackfillReport(page.id, since)
    page_id, own, token = page.id, _own_ids(page), page.access_token
    batch: list[Thread] = []
    try:
        for platform, conv in _conversations(client, page, since):
            psid = _participant(conv, own)
            if psid is None:
                continue
            batch.append(Thread(platform, psid, _messages(client, token, conv, since)))
            if len(batch) >= BATCH_THREADS or sum(len(t.rows) for t in batch) >= BATCH_MESSAGES:
                report.conversations.extend(store_batch(page, batch, own, _attachments))
                batch = []
        if batch:
            report.conversations.extend(store_batch(page, batch, own, _attachments))
    except GraphError as exc:
        raise PageError(f"the Conversations API refused the backfill: {exc.message}") from None
    finally:
        report.calls = client.calls
        if own_client:
            client.close()
        get_redis().delete(LOCK_KEY.format(page_id))
    record(
        "channel_backfill",
        "page",
        page_id,
        {"since": since.isoformat(), "inserted": report.inserted, "already_present": report.known},
    )
    db.session.commit()
    logger.info(
        "backfill page %s since %s: %s inserted, %s already present", page_id, since, report.inserted, report.known
    )
    return report


def paced_client() -> ChannelGraphClient:
    """A client paced at `CHANNEL_BACKFILL_RATE` calls/s with `CHANNEL_BACKOFF_SECONDS` backoff."""
    cfg = current_app.config
    client = channel_client_from_config(cfg)
    rate = float(cfg.get("CHANNEL_BACKFILL_RATE", 2.0))
    client.min_interval = 1.0 / rate if rate > 0 else 0.0
    client.backoff_base = float(cfg.get("CHANNEL_BACKOFF_SECONDS", 1.0))
    return client


def queue_backfill(page: Page, since_text: str) -> datetime:
    """The Admin's button: validate the date, queue the job (it reports its counts when done)."""
    if not page.access_token:
        raise PageError("the page has no access token: connect it first")
    since = parse_since(since_text)
    enqueue("app.pages.tasks.backfill_page", page.id, since.isoformat(), queue="default")
    record("channel_backfill_queued", "page", page.id, {"since": since.isoformat()})
    db.session.commit()
    return since
