"""The messaging channels a Page serves: Messenger and Instagram Direct.

Shared by contacts, conversations, webhooks and the reply rules, so no module spells a channel
or its text limit differently.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a contact writes from (stored as the plain value on contacts and conversations)."""

    MESSENGER = "messenger"
    INSTAGRAM = "instagram"


#: Meta's limits on one text message, per channel (characters).
TEXT_LIMITS = {Channel.MESSENGER: 2000, Channel.INSTAGRAM: 1000}
#: What people read for a channel (labels, refusals).
LABELS = {Channel.MESSENGER: "Messenger", Channel.INSTAGRAM: "Instagram"}


def as_channel(value: str | None) -> Channel:
    """A stored value as a Channel; anything unknown is Messenger (the column's default)."""
    try:
        return Channel(value or Channel.MESSENGER)
    except ValueError:
        return Channel.MESSENGER


def text_limit(value: str | None) -> int:
    """The longest text a reply on this channel may have."""
    return TEXT_LIMITS[as_channel(value)]


def label(value: str | None) -> str:
    """ "Messenger" or "Instagram"."""
    return LABELS[as_channel(value)]
