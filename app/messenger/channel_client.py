"""Graph calls of channel health and recovery: debug_token, subscribed_apps, Conversations API.

A subclass of the one `GraphClient`, so these calls share its pooling, error classes and token
scrubbing; kept in its own module so the Send API client stays small.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from app.messenger.client import GraphClient, PermanentGraphError, RetryableGraphError, client_from_config

logger = logging.getLogger(__name__)

#: The webhook fields the product handles (DESIGN.md "Messenger rules"); subscribed on repair.
SUBSCRIBED_FIELDS = (
    "messages",
    "messaging_postbacks",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "messaging_referrals",
    "messaging_optins",
    "message_reactions",
)
MESSAGE_FIELDS = "id,created_time,from,to,message,attachments"
#: bounded paging: a misbehaving cursor never loops forever
MAX_PAGES = 10_000
#: Throttling codes of the Conversations API: wait and try again (backoff doubles each time).
THROTTLE_CODES = frozenset({4, 17, 613})


class ChannelGraphClient(GraphClient):
    """`GraphClient` plus the calls that inspect and repair a page's connection.

    Paged reads (the Conversations API) keep at least `min_interval` seconds between the end of
    one call and the start of the next (Meta allows 2 calls/s per page, counted on arrival) and
    back off `backoff_base`, 2x, 4x... seconds on a throttling error, `backoff_tries` times,
    before giving up with that error.
    """

    min_interval: float = 0.5
    backoff_base: float = 1.0
    backoff_tries: int = 5
    calls: int = 0
    _last_call: float = 0.0

    def debug_token(self, token: str) -> dict[str, Any]:
        """`GET /debug_token` with the app token (`FB_APP_ID|FB_APP_SECRET`): Meta's view of
        the page token (is_valid, expires_at, scopes, error). The page token is sent as
        `input_token` and never logged."""
        if not self.app_id or not self.app_secret:
            raise PermanentGraphError("debug_token needs FB_APP_ID and FB_APP_SECRET")
        app_token = f"{self.app_id}|{self.app_secret}"
        data = self._request("GET", "debug_token", app_token, "debug_token", params={"input_token": token})
        inner = data.get("data") if isinstance(data, dict) else None
        if not isinstance(inner, dict):
            raise PermanentGraphError("debug_token: response has no data", http_status=200)
        return inner

    def subscribed_apps(self, page_id: str, token: str) -> list[dict[str, Any]]:
        """The apps subscribed to the page's webhooks, each with its `subscribed_fields`."""
        data = self._request("GET", f"{page_id}/subscribed_apps", token, f"subscribed_apps page={page_id}")
        rows = data.get("data") if isinstance(data, dict) else None
        return [row for row in rows or [] if isinstance(row, dict)]

    def subscribe_app(self, page_id: str, token: str, fields: tuple[str, ...] = SUBSCRIBED_FIELDS) -> bool:
        """`POST /{page-id}/subscribed_apps?subscribed_fields=...`; True when Meta says success."""
        data = self._request(
            "POST",
            f"{page_id}/subscribed_apps",
            token,
            f"subscribe page={page_id}",
            params={"subscribed_fields": ",".join(fields)},
        )
        return bool(isinstance(data, dict) and data.get("success"))

    def messenger_profile(self, token: str, fields: str, platform: str | None = None) -> list[dict[str, Any]]:
        """`GET /me/messenger_profile?fields=...` (the page is the token's): Meta's `data` rows."""
        params = {"fields": fields, **({"platform": platform} if platform else {})}
        data = self._request("GET", "me/messenger_profile", token, f"messenger_profile get {fields}", params=params)
        rows = data.get("data") if isinstance(data, dict) else None
        return [row for row in rows or [] if isinstance(row, dict)]

    def set_messenger_profile(self, token: str, body: dict[str, Any], platform: str | None = None) -> bool:
        """`POST /me/messenger_profile` with the properties to set; True when Meta says success."""
        params = {"platform": platform} if platform else None
        data = self._request("POST", "me/messenger_profile", token, "messenger_profile set", params=params, json=body)
        return bool(isinstance(data, dict) and data.get("result") == "success")

    def conversations(
        self, page_id: str, token: str, platform: str, *, limit: int = 25, message_limit: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every conversation of the page on one platform, newest first, each with its first
        page of messages (`messages.data`, newest first, `messages.paging` for the rest)."""
        fields = f"participants,updated_time,messages.limit({message_limit}){{{MESSAGE_FIELDS}}}"
        params = {"platform": platform, "fields": fields, "limit": str(limit)}
        yield from self._paged(f"{page_id}/conversations", token, f"conversations page={page_id}", params)

    def conversation_messages(
        self, conversation_id: str, token: str, after: str, *, limit: int = 100
    ) -> Iterator[dict[str, Any]]:
        """The rest of a conversation's messages, from the cursor `after` on."""
        params = {"fields": MESSAGE_FIELDS, "limit": str(limit), "after": after}
        yield from self._paged(f"{conversation_id}/messages", token, "conversation messages", params)

    def _paged(self, path: str, token: str, context: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        params = dict(params)
        for _ in range(MAX_PAGES):
            data = self._paced_get(path, token, context, params)
            if not isinstance(data, dict):
                return
            yield from (row for row in data.get("data") or [] if isinstance(row, dict))
            after = next_cursor(data)
            if after is None:
                return
            params["after"] = after

    def _paced_get(self, path: str, token: str, context: str, params: dict[str, str]) -> Any:
        for attempt in range(self.backoff_tries + 1):
            wait = self._last_call + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.calls += 1
            try:
                return self._request("GET", path, token, context, params=dict(params))
            except RetryableGraphError as exc:
                if exc.code not in THROTTLE_CODES or attempt >= self.backoff_tries:
                    raise
                pause = self.backoff_base * (2**attempt)
                logger.warning("graph %s throttled (code %s): waiting %.1f s", context, exc.code, pause)
            finally:
                # Meta counts a call when it arrives, and our send time is not that (a slow connect
                # or a loaded machine delays it): the answer is the first moment known to be after
                # the arrival, so the interval runs from there and the next call cannot arrive within it.
                self._last_call = time.monotonic()
            time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover


def next_cursor(data: Mapping[str, Any]) -> str | None:
    """The `after` cursor of a Graph list answer, or None on its last page."""
    paging = data.get("paging") or {}
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors") or {}
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return str(after) if after else None


def channel_client_from_config(config: Mapping[str, Any]) -> ChannelGraphClient:
    """A `ChannelGraphClient` with the same settings `client_from_config` reads."""
    base = client_from_config(config)
    base.close()
    return ChannelGraphClient(
        base_url=base.base_url,
        version=base.version,
        app_secret=base.app_secret,
        app_id=base.app_id,
        connect_timeout=base.timeout[0],
        read_timeout=base.timeout[1],
    )
