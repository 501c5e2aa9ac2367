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


# --------------------------------------------------------------------------- Instagram Direct

IG_ID = "17841400000000001"  # the Instagram professional account linked to the test page
IGSID = "1122334455667788"  # an Instagram-scoped user id


def ig_item(igsid: str = IGSID, ts: int | None = None, ig_id: str = IG_ID, **event) -> dict:
    """One Instagram messaging[] item (sender = the person's IGSID, recipient = the IG account)."""
    return {"sender": {"id": igsid}, "recipient": {"id": ig_id}, "timestamp": ts or now_ms(), **event}


def ig_echo_item(igsid: str = IGSID, ts: int | None = None, ig_id: str = IG_ID, **message) -> dict:
    """An Instagram echo: `is_echo` inside `message`, sent by the IG account to the person."""
    return {
        "sender": {"id": ig_id},
        "recipient": {"id": igsid},
        "timestamp": ts or now_ms(),
        "message": {"is_echo": True, **message},
    }


def ig_payload(*items: dict, ig_id: str = IG_ID) -> dict:
    """An `object: instagram` body, as Meta posts it (entry id = the IG account id)."""
    return {"object": "instagram", "entry": [{"id": ig_id, "time": now_ms(), "messaging": list(items)}]}
