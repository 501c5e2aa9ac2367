"""The "Privacy" entries of a page's Messenger menu and Instagram ice breakers.

`flask omnicrm page menu` and the Admin's button on the Channels page both call `set_privacy_menu`.
It reads the page's Messenger Profile, merges our postbacks (`PRIVACY_ACCESS`, `PRIVACY_ERASURE`,
`PRIVACY_RECTIFICATION`, `PRIVACY_OPT_OUT`, handled by app/privacy/self_service.py) into what the
page already has, and writes it back only when something changed: the page's own entries stay,
and a second run adds nothing.

Meta's limits, from its Messenger Profile API docs: nested menus were removed in Graph API v8.0
(pages with nested items are shown flat), so the entries are four flat postbacks; a menu has at
most 20 `call_to_actions` per locale and needs a `default` locale; a postback title has at most
20 characters. Ice breakers: at most 4 questions per locale, `default` locale required, and one
POST uses one format (we always write the localized one). The page's own ice breakers keep their
places; ours fill the free ones, in the order above, and the ones that do not fit are reported.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import select

from app import db
from app.audit import service as audit
from app.messenger.channel_client import ChannelGraphClient, channel_client_from_config
from app.messenger.client import GraphError, ReauthRequiredError
from app.pages.models import Page
from app.pages.services import mark_needs_reauth
from app.privacy.exceptions import PrivacyError

DEFAULT_LOCALE = "default"
MAX_MENU_ITEMS = 20
MAX_ICE_BREAKERS = 4
#: (payload, menu title <= 20 characters, ice breaker question)
ENTRIES = (
    ("PRIVACY_ACCESS", "Privacy: my data", "How do I get a copy of my data?"),
    ("PRIVACY_ERASURE", "Privacy: delete data", "How do I delete my data?"),
    ("PRIVACY_RECTIFICATION", "Privacy: fix my data", "How do I correct my data?"),
    ("PRIVACY_OPT_OUT", "Privacy: opt out", "How do I stop marketing messages?"),
)
PAYLOADS = frozenset(payload for payload, _, _ in ENTRIES)


class PageMenuError(PrivacyError):
    """The menu could not be set; the message says why (no token in it)."""


@dataclass
class MenuResult:
    """What `set_privacy_menu` did, for the command's output and the Admin's flash."""

    page_name: str
    fb_page_id: str
    menu_changed: bool = False
    locales: list[str] = field(default_factory=list)
    instagram: bool = False
    ice_breakers_changed: bool = False
    ice_breakers_set: list[str] = field(default_factory=list)
    ice_breakers_skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"Page {self.page_name} ({self.fb_page_id}): persistent menu "
            + ("updated" if self.menu_changed else "already had the Privacy entries")
            + f" (locales: {', '.join(self.locales)})."
        ]
        if self.instagram:
            state = "updated" if self.ice_breakers_changed else "unchanged"
            out.append(f"Instagram ice breakers {state}: {', '.join(self.ice_breakers_set) or 'none of ours'}.")
            if self.ice_breakers_skipped:
                skipped = ", ".join(self.ice_breakers_skipped)
                out.append(f"No room (Meta allows {MAX_ICE_BREAKERS} ice breakers) for: {skipped}.")
        return out


def _ours(button: Any) -> bool:
    return isinstance(button, dict) and button.get("payload") in PAYLOADS


def _without_ours(buttons: Any) -> list[dict[str, Any]]:
    """The page's own buttons; our postbacks removed, also from inside a legacy nested item."""
    kept = []
    for button in buttons if isinstance(buttons, list) else []:
        if not isinstance(button, dict) or _ours(button):
            continue
        if button.get("type") == "nested":
            button = {**button, "call_to_actions": _without_ours(button.get("call_to_actions"))}
            if not button["call_to_actions"]:
                continue
        kept.append(button)
    return kept


def merge_persistent_menu(existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every locale's menu keeps its own entries and gets ours at the end (once)."""
    menus = [copy.deepcopy(m) for m in existing if isinstance(m, dict)]
    if not any(m.get("locale") == DEFAULT_LOCALE for m in menus):
        menus.insert(0, {"locale": DEFAULT_LOCALE, "composer_input_disabled": False, "call_to_actions": []})
    ours = [{"type": "postback", "title": title, "payload": payload} for payload, title, _ in ENTRIES]
    for menu in menus:
        kept = _without_ours(menu.get("call_to_actions"))
        if len(kept) + len(ours) > MAX_MENU_ITEMS:
            raise PageMenuError(
                f"the {menu.get('locale')!r} menu already has {len(kept)} entries; Meta allows {MAX_MENU_ITEMS}, "
                f"so the {len(ours)} Privacy entries do not fit: remove some entries first"
            )
        menu["call_to_actions"] = kept + ours
    return menus


def _ice_breaker_locales(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Meta answers in the localized or the older flat format: always the localized one here."""
    if len(rows) == 1 and isinstance(rows[0].get("ice_breakers"), list):
        rows = [r for r in rows[0]["ice_breakers"] if isinstance(r, dict)]
    locales: list[dict[str, Any]] = []
    flat = []
    for row in rows:
        if isinstance(row.get("call_to_actions"), list):
            actions = [a for a in row["call_to_actions"] if isinstance(a, dict)]
            locales.append({"locale": row.get("locale") or DEFAULT_LOCALE, "call_to_actions": actions})
        elif "question" in row:
            flat.append({"question": row.get("question"), "payload": row.get("payload")})
    if flat:
        locales.insert(0, {"locale": DEFAULT_LOCALE, "call_to_actions": flat})
    return locales


def merge_ice_breakers(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(localized ice breakers, our payloads set in the default locale, ours that did not fit)."""
    locales = _ice_breaker_locales(rows)
    if not any(loc["locale"] == DEFAULT_LOCALE for loc in locales):
        locales.insert(0, {"locale": DEFAULT_LOCALE, "call_to_actions": []})
    ours = [{"question": question, "payload": payload} for payload, _, question in ENTRIES]
    placed: list[str] = []
    skipped: list[str] = []
    for loc in locales:
        kept = [a for a in loc["call_to_actions"] if not _ours(a)][:MAX_ICE_BREAKERS]
        room = MAX_ICE_BREAKERS - len(kept)
        loc["call_to_actions"] = kept + ours[:room]
        if loc["locale"] == DEFAULT_LOCALE:
            placed = [a["payload"] for a in ours[:room]]
            skipped = [a["payload"] for a in ours[room:]]
    return locales, placed, skipped


def _find_page(fb_page_id: str) -> Page:
    page: Page | None = db.session.scalar(select(Page).where(Page.fb_page_id == (fb_page_id or "").strip()))
    if page is None:
        raise PageMenuError(f"no connected page with id {fb_page_id!r}: run `flask omnicrm page add` first")
    if not page.access_token:
        raise PageMenuError(f"page {page.name} has no access token: set one with `flask omnicrm page add`")
    if page.needs_reauth:
        raise PageMenuError(
            f"page {page.name}'s access token is no longer valid ({page.reauth_reason or 'needs re-authorisation'}): "
            "replace it with `flask omnicrm page add` first"
        )
    return page


def _current_menu(client: ChannelGraphClient, token: str) -> list[dict[str, Any]]:
    for row in client.messenger_profile(token, "persistent_menu"):
        menu = row.get("persistent_menu")
        if isinstance(menu, list):
            return [m for m in menu if isinstance(m, dict)]
    return []


def _apply(page: Page, client: ChannelGraphClient, result: MenuResult) -> None:
    token = page.access_token or ""
    current = _current_menu(client, token)
    merged = merge_persistent_menu(current)
    result.locales = [str(m.get("locale")) for m in merged]
    if merged != current:
        client.set_messenger_profile(token, {"persistent_menu": merged})
        result.menu_changed = True
    if not page.ig_account_id:
        return
    result.instagram = True
    rows = client.messenger_profile(token, "ice_breakers", platform="instagram")
    breakers, result.ice_breakers_set, result.ice_breakers_skipped = merge_ice_breakers(rows)
    if breakers != _ice_breaker_locales(rows):
        client.set_messenger_profile(token, {"platform": "instagram", "ice_breakers": breakers}, platform="instagram")
        result.ice_breakers_changed = True


def set_privacy_menu(fb_page_id: str) -> MenuResult:
    """Merge the Privacy postbacks into the page's menu (and ice breakers); audited when changed."""
    page = _find_page(fb_page_id)
    result = MenuResult(page_name=page.name, fb_page_id=page.fb_page_id)
    client = channel_client_from_config(current_app.config)
    try:
        _apply(page, client, result)
    except ReauthRequiredError as exc:
        mark_needs_reauth(page, str(exc))
        db.session.commit()
        raise PageMenuError(
            f"Meta refused page {page.name}'s access token ({exc.message}): replace it with `flask omnicrm page add`"
        ) from None
    except GraphError as exc:
        raise PageMenuError(f"Meta refused the Messenger Profile call: {exc}") from None
    finally:
        client.close()
    if result.menu_changed or result.ice_breakers_changed:
        audit.record(
            "page_privacy_menu_set",
            "page",
            page.id,
            {
                "persistent_menu": result.menu_changed,
                "locales": result.locales,
                "ice_breakers": result.ice_breakers_set if result.ice_breakers_changed else None,
            },
        )
        db.session.commit()
    return result
