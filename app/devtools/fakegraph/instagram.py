"""Instagram Direct in the fake Graph API: profiles by IGSID and the webhooks after a send.

An IGSID is known to the fake once registered (`instagram_user`, or the `instagram_user`
control action) with its Instagram account id; a send to it is answered like any send, then
followed by Instagram-shaped webhooks (`object: instagram`, entry id = the IG account): the
echo (`is_echo` inside `message`) and a `messaging_seen` read naming the mid.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from app.devtools.fakegraph.common import now_ms

_NAMES = ["Noor Haddad", "Lea Larsen", "Ines Moreau", "Kai Okafor", "Mila Nguyen", "Theo Schmidt"]
#: the fields `GET /{igsid}` answers (Instagram User Profile API)
IG_PROFILE_FIELDS = frozenset({"name", "username", "profile_pic", "follower_count", "is_user_follow_business"})


def default_instagram_profile(igsid: str) -> dict[str, Any]:
    """A deterministic made-up Instagram profile for an IGSID."""
    n = int(hashlib.sha256(igsid.encode("utf-8")).hexdigest(), 16)
    name = _NAMES[n % len(_NAMES)]
    return {
        "id": igsid,
        "name": name,
        "username": name.lower().replace(" ", ".") + str(n % 100),
        "profile_pic": f"https://example.invalid/ig/{igsid}.jpg",
        "follower_count": n % 5000,
        "is_user_follow_business": bool(n % 2),
    }


def wants_instagram_profile(fields: list[str]) -> bool:
    """A profile request in the Instagram shape (asks for `username` or `name`)."""
    return bool({"username", "name"} & set(fields))


class InstagramGraph:
    """Mixin of `FakeGraph`: the registered IGSIDs and their webhooks."""

    _lock: threading.RLock
    _stopping: threading.Event
    app_secret: str
    app_id: str
    webhook_gap: float
    profiles: dict[str, dict[str, Any]]

    def _post_webhook(self, url: str, payload: dict[str, Any], secret: str) -> None:
        raise NotImplementedError  # GraphHandlers

    @property
    def instagram_users(self) -> dict[str, str]:
        """IGSID -> the Instagram account id it talks to (created on first use)."""
        users: dict[str, str] | None = self.__dict__.get("_instagram_users")
        if users is None:
            users = self.__dict__.setdefault("_instagram_users", {})
        return users

    def instagram_user(self, igsid: str, ig_id: str, profile: dict[str, Any] | None = None) -> None:
        """Register an IGSID (sends to it get Instagram webhooks) and, optionally, its profile."""
        with self._lock:
            self.instagram_users[str(igsid)] = str(ig_id)
            if profile is not None:
                self.profiles[str(igsid)] = {"id": str(igsid), **profile}

    def instagram_profile(self, igsid: str, fields: list[str]) -> dict[str, Any]:
        """The Instagram profile of an IGSID, reduced to the asked fields."""
        with self._lock:
            profile = dict(self.profiles.get(igsid) or default_instagram_profile(igsid))
        return {k: v for k, v in profile.items() if k in fields or k == "id"}

    def instagram_account_of(self, igsid: str) -> str | None:
        """The IG account a registered IGSID talks to; None for anyone else (Messenger)."""
        with self._lock:
            return self.instagram_users.get(igsid)

    def start_instagram_webhooks(self, url: str, ig_id: str, igsid: str, mid: str, message: dict[str, Any]) -> None:
        """Post the echo and the seen receipt of a send, in the background (as Meta does)."""
        threading.Thread(
            target=self._emit_instagram_webhooks,
            args=(url, ig_id, igsid, mid, message),
            name="fakegraph-ig-webhooks",
            daemon=True,
        ).start()

    def _emit_instagram_webhooks(self, url: str, ig_id: str, igsid: str, mid: str, message: dict[str, Any]) -> None:
        with self._lock:
            secret, gap = self.app_secret, self.webhook_gap
        echo: dict[str, Any] = {"mid": mid, "is_echo": True}
        for key in ("text", "metadata"):
            if message.get(key) is not None:
                echo[key] = message[key]
        if message.get("attachment"):
            echo["attachments"] = [message["attachment"]]
        items = [
            {"sender": {"id": ig_id}, "recipient": {"id": igsid}, "timestamp": now_ms(), "message": echo},
            {"sender": {"id": igsid}, "recipient": {"id": ig_id}, "timestamp": 0, "read": {"mid": mid}},
        ]
        for index, event in enumerate(items):
            if index and self._stopping.wait(gap):
                return
            now = now_ms()
            event["timestamp"] = event["timestamp"] or now
            payload = {"object": "instagram", "entry": [{"id": ig_id, "time": now, "messaging": [event]}]}
            self._post_webhook(url, payload, secret)
