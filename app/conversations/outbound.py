"""What services and the outbound jobs share: the send rule and how a drain job is queued.

Services queue the drain job by its dotted path (`SEND_JOB`) and never import tasks.py; the
jobs import this module too, so neither depends on the other.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from app.core.queues import enqueue_once, get_redis
from app.messenger.client import GraphClient, client_from_config
from app.pages.services import send_block_reason

logger = logging.getLogger(__name__)

#: Redis: the drain-queued flag (as for webhooks); a lost drain job delays replies at most the TTL.
DRAIN_FLAG = "omnicrm:outbound:drain-queued"
DRAIN_FLAG_TTL = 60
OUTBOUND_QUEUE = "outbound"
SEND_JOB = "app.conversations.tasks.send_message"

_clients: dict[tuple[Any, ...], GraphClient] = {}


def graph_client() -> GraphClient:
    """One pooled client per worker process and configuration (keep-alive to Meta); shared by
    the send job and the sender-action job."""
    cfg = current_app.config
    key = (cfg.get("GRAPH_API_BASE"), cfg.get("GRAPH_API_VERSION"), cfg.get("FB_APP_SECRET"))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = client_from_config(cfg)
    return client


def send_refusal(page: Any, contact: Any) -> str | None:
    """Why nothing may be sent to this contact through this page now, or None.

    Takes anything with the page's and contact's attributes (models, or rows of the columns,
    as the outbound job loads them for a whole batch at once).
    """
    if page is None or not page.access_token:
        return "the page has no access token: an admin must connect it first"
    if page.needs_reauth:
        return "the page's access token has expired or was revoked: an admin must replace it before replies can be sent"
    blocked = send_block_reason(page)
    if blocked:
        return blocked
    if contact is None or contact.erased_at is not None:
        return "the contact's data was erased: replies are no longer possible"
    if contact.restricted:
        return "processing of this contact's data is restricted (privacy request): replies are blocked"
    if not contact.psid:
        return "the contact has no Messenger id"
    return None


def signal_send() -> bool:
    """After a reply is committed as queued: make sure a drain job will send it
    (`enqueue_once`). Redis down raises; the reply stays queued and `reconcile_sending`
    queues it."""
    return enqueue_once(DRAIN_FLAG, DRAIN_FLAG_TTL, SEND_JOB, queue=OUTBOUND_QUEUE)


def enqueue_send(message_id: int | None = None, *, force: bool = False) -> None:
    """After a reply is committed as queued: make sure a drain job will send it.

    Redis down leaves it queued; `reconcile_sending` queues it later (force: a flag whose
    job was lost does not hold it back). `message_id` only names the reply in the log.
    """
    try:
        if force:
            get_redis().delete(DRAIN_FLAG)
        signal_send()
    except Exception:  # the row is committed; reconcile_sending re-enqueues it
        logger.exception(
            "could not queue the send of message %s; reconcile_sending will pick it up",
            message_id if message_id is not None else "-",
        )
