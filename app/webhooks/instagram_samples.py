"""Signed-sample material for Instagram Direct: what `flask omnicrm simulate --channel instagram`
posts, shaped like Meta's documented Instagram Messaging webhooks (`object: instagram`)."""

from __future__ import annotations

import time
import uuid
from typing import Any

CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="


def instagram_body(ig_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    """An `object: instagram` body: entry id = the Instagram professional account id."""
    now = int(time.time() * 1000)
    return {"object": "instagram", "entry": [{"id": ig_id, "time": now, "messaging": list(items)}]}


def instagram_item(ig_id: str, igsid: str, ts: int, **event: Any) -> dict[str, Any]:
    """One item sent by the person (IGSID) to the Instagram account."""
    return {"sender": {"id": igsid}, "recipient": {"id": ig_id}, "timestamp": ts, **event}


def sample_instagram_events(ig_id: str, igsid: str, now_ms: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """A short Instagram conversation: text, story mention, story reply, ice breaker, reaction,
    an edit, an unsent message and a seen receipt."""
    now = now_ms or int(time.time() * 1000)
    tag = uuid.uuid4().hex[:12]
    mid = f"aWdfZAG1faXRlbTpzaW1f{tag}"

    def one(label: str, offset: int, **event: Any) -> tuple[str, dict[str, Any]]:
        return label, instagram_body(ig_id, instagram_item(ig_id, igsid, now + offset, **event))

    return [
        one("text", 0, message={"mid": f"{mid}_1", "text": "Hi! Do you have this jacket in medium?"}),
        one("mention", 1000, message={"mid": f"{mid}_2", "attachments": [{"type": "story_mention", "payload": {"url": CDN + "101"}}]}),  # noqa: E501
        one("story", 2000, message={"mid": f"{mid}_3", "text": "Love this look!", "reply_to": {"story": {"url": CDN + "102", "id": "17950000000000001"}}}),  # noqa: E501
        one("icebreaker", 3000, postback={"mid": f"{mid}_4", "title": "What are your opening hours?", "payload": "HOURS"}),  # noqa: E501
        one("reaction", 4000, reaction={"mid": f"{mid}_1", "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"}),  # noqa: E501
        one("edit", 5000, message_edit={"mid": f"{mid}_1", "text": "Hi! Do you have this jacket in size M?", "num_edit": 1}),  # noqa: E501
        one("unsend", 6000, message={"mid": f"{mid}_3", "is_deleted": True}),
        one("seen", 7000, read={"mid": f"{mid}_1"}),
    ]  # fmt: skip
