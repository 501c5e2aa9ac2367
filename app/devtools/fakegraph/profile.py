"""The Messenger Profile API in the fake Graph API: `GET/POST /me/messenger_profile`.

"me" is the page whose token made the call, so the profile is stored per page token (and per
`platform`: Messenger, or `instagram` for ice breakers). Meta's rules that a client can break
are enforced as Meta answers them (error 100): a `default` locale, at most 20 menu entries per
locale, no nested menus (gone since Graph API v8.0), postback titles of at most 20 characters,
at most 4 ice breakers per locale. Seed a page's existing profile with the control action
`messenger_profile` `{"token": T, "platform": "instagram"?, "profile": {...}}`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from app.devtools.fakegraph.common import error_body, json_response

Response = tuple[int, str, bytes]
MAX_MENU_ITEMS = 20
MAX_TITLE = 20
MAX_ICE_BREAKERS = 4


def _bad(message: str) -> Response:
    return json_response(400, error_body(100, f"(#100) {message}", error_type="GraphMethodException"))


def _menu_error(menus: Any) -> str | None:
    if not isinstance(menus, list) or not all(isinstance(m, dict) for m in menus):
        return "persistent_menu must be an array of objects"
    if not any(m.get("locale") == "default" for m in menus):
        return "persistent_menu needs a menu with the locale 'default'"
    for menu in menus:
        actions = menu.get("call_to_actions")
        if not isinstance(actions, list) or not actions:
            return "call_to_actions must be a non-empty array"
        if len(actions) > MAX_MENU_ITEMS:
            return f"call_to_actions has more than {MAX_MENU_ITEMS} items"
        for button in actions:
            if not isinstance(button, dict) or button.get("type") not in ("postback", "web_url"):
                return "nested menus are not supported since Graph API v8.0"
            if not button.get("title") or len(str(button["title"])) > MAX_TITLE:
                return f"a button title must have 1 to {MAX_TITLE} characters"
    return None


def _ice_breaker_error(breakers: Any) -> str | None:
    if not isinstance(breakers, list) or not all(isinstance(b, dict) for b in breakers):
        return "ice_breakers must be an array of objects"
    localized = [b for b in breakers if "call_to_actions" in b]
    if localized and len(localized) != len(breakers):
        return "one request can use the localized or the older ice breaker format, not both"
    if not localized:
        return None if len(breakers) <= MAX_ICE_BREAKERS else f"at most {MAX_ICE_BREAKERS} ice breakers"
    if not any(b.get("locale") == "default" for b in localized):
        return "ice_breakers need the locale 'default'"
    for loc in localized:
        actions = loc.get("call_to_actions")
        if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ICE_BREAKERS:
            return f"each locale needs 1 to {MAX_ICE_BREAKERS} ice breakers"
    return None


class MessengerProfileGraph:
    """Mixin of `FakeGraph`: the stored Messenger profiles."""

    _lock: threading.RLock
    _profiles_by_token: dict[tuple[str, str], dict[str, Any]] | None

    def _profile_store(self) -> dict[tuple[str, str], dict[str, Any]]:
        with self._lock:
            store = getattr(self, "_profiles_by_token", None)
            if store is None:
                store = {}
                self._profiles_by_token = store
            return store

    def reset_profiles(self) -> None:
        with self._lock:
            self._profiles_by_token = None

    def set_messenger_profile(self, token: str, profile: dict[str, Any], platform: str = "messenger") -> None:
        """Seed (or replace) what a page's profile holds."""
        with self._lock:
            self._profile_store()[(token, platform or "messenger")] = copy.deepcopy(dict(profile))

    def messenger_profile_of(self, token: str, platform: str = "messenger") -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._profile_store().get((token, platform), {}))

    def profile_route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Response | None:
        """`/{version}/me/messenger_profile` (GET, POST), or None when the path is another one."""
        if len(parts) != 3 or parts[1] != "me" or parts[2] != "messenger_profile":
            return None
        token = query.get("access_token", "")
        platform = query.get("platform") or (body.get("platform") if isinstance(body, dict) else None) or "messenger"
        if platform not in ("messenger", "instagram"):
            return _bad("platform must be messenger or instagram")
        if method == "GET":
            return self._get_profile(token, platform, query.get("fields", ""))
        if method == "POST":
            return self._post_profile(token, platform, body)
        return None

    def _get_profile(self, token: str, platform: str, fields: str) -> Response:
        wanted = [f for f in fields.split(",") if f]
        if not wanted:
            return _bad("The parameter fields is required")
        stored = self.messenger_profile_of(token, platform)
        if wanted == ["ice_breakers"]:  # Meta answers the ice breakers themselves as `data`
            return json_response(200, {"data": stored.get("ice_breakers") or []})
        row = {key: stored[key] for key in wanted if key in stored}
        return json_response(200, {"data": [row] if row else []})

    def _post_profile(self, token: str, platform: str, body: Any) -> Response:
        if not isinstance(body, dict):
            return _bad("Invalid JSON body")
        props = {k: v for k, v in body.items() if k != "platform"}
        if not props:
            return _bad("No properties to set")
        if "persistent_menu" in props and (problem := _menu_error(props["persistent_menu"])):
            return _bad(problem)
        if "ice_breakers" in props and (problem := _ice_breaker_error(props["ice_breakers"])):
            return _bad(problem)
        with self._lock:
            stored = self._profile_store().setdefault((token, platform), {})
            stored.update(copy.deepcopy(props))
        return json_response(200, {"result": "success"})
