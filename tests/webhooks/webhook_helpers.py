"""Helpers for the webhook tests: Meta-shaped payloads and signatures (unique module name)."""

from __future__ import annotations

import hashlib
import hmac
import time

PAGE_ID = "1234567890"  # the `page` fixture's fb_page_id
PSID = "7001002003"  # the `contact` fixture's psid


def now_ms() -> int:
    return int(time.time() * 1000)


def item(psid: str = PSID, ts: int | None = None, page_id: str = PAGE_ID, **event) -> dict:
    """One messaging[] item, as Meta documents it (sender = the person, recipient = the Page)."""
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": ts or now_ms(), **event}


def echo_item(psid: str = PSID, ts: int | None = None, page_id: str = PAGE_ID, **message) -> dict:
    """A message_echoes item: sent by the Page to the person."""
    return {
        "sender": {"id": page_id},
        "recipient": {"id": psid},
        "timestamp": ts or now_ms(),
        "message": {"is_echo": True, "app_id": 1517776481860111, **message},
    }


def payload(*items: dict, page_id: str = PAGE_ID) -> dict:
    return {"object": "page", "entry": [{"id": page_id, "time": now_ms(), "messaging": list(items)}]}


def sign256(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign1(body: bytes, secret: str) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
