"""Reading Meta's payload shapes: ids, kinds, timestamps and storable text.

Ingestion (which only describes an event) and processing (which applies it) must agree on
what an id, a kind or a timestamp is, so both read them through these helpers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.core.models import utcnow

# messaging[] keys that name the event kind, in the order we test them
KNOWN_KINDS = ("message", "delivery", "read", "postback", "reaction", "referral", "optin", "message_edit")
# the webhook objects the product applies: Messenger ("page") and Instagram Direct
OBJECT_CHANNELS = {"page": "messenger", "instagram": "instagram"}
HANDLED_OBJECTS = frozenset(OBJECT_CHANNELS)
# keys of an entry that are not event arrays; any other key is a kind we do not handle
ENTRY_KEYS = frozenset({"id", "time", "messaging"})
_MAX_MS = 32503680000000  # year 3000: anything later is not a timestamp


def item_kind(item: dict[str, Any]) -> str:
    """The kind of one messaging item ("echo" for the Page's own messages, "unknown" if none)."""
    if isinstance(item.get("message"), dict):
        return "echo" if item["message"].get("is_echo") else "message"
    for kind in KNOWN_KINDS[1:]:
        if kind in item:
            return kind
    return "unknown"


def id_of(party: Any) -> str | None:
    """The printable id of an entry, sender or recipient; None for anything that is not one."""
    if isinstance(party, dict):
        value = party.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)[:64]
            # real ids are digits; anything unprintable (NUL, lone surrogates) is not an id
            if text and text.isprintable() and text.encode("utf-8", "replace").decode() == text:
                return text
    return None


def user_psid(item: dict[str, Any], kind: str, page_fb_id: str) -> str | None:
    """The person's PSID: the recipient for echoes (sent by the Page), else the sender."""
    psid = id_of(item.get("recipient") if kind == "echo" else item.get("sender"))
    return psid if psid and psid != page_fb_id else None


def ms(value: Any) -> datetime | None:
    """Meta's ms timestamp as naive UTC; None when missing or absurd."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < _MAX_MS:
        return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)
    return None


def ts(item: dict[str, Any]) -> datetime:
    """An item's timestamp as naive UTC; now when missing or absurd."""
    return ms(item.get("timestamp")) or utcnow()


def clean_str(value: Any, limit: int = 2000) -> str | None:
    """A scalar as storable text (cut to `limit`); None for missing values and containers."""
    if value is None or isinstance(value, dict | list):
        return None
    # NUL and lone surrogates cannot be stored (PostgreSQL text/JSONB, UTF-8 encryption)
    return str(value)[:limit].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
