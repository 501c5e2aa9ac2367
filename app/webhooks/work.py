"""The units of processing: one messaging item to apply, the batch's lookups, the outcome.

Shared by the batch (which collects items), the lookups (which load their rows), the erasure
filter and the item handlers, so none of those needs to import another for its types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.contacts.models import Contact
from app.conversations.models import Conversation
from app.core.channels import Channel
from app.core.crypto import keyed_hash
from app.pages.models import Page
from app.webhooks.models import WebhookEvent
from app.webhooks.payload import clean_str

# kinds without a mid of their own: a stable pseudo-mid makes their retries dedupe
_PSEUDO_MID_KINDS = frozenset({"postback", "reaction", "referral", "optin"})


@dataclass
class Outcome:
    """What processing did (returned to the job and the tests)."""

    handled: int = 0
    skipped: int = 0
    discarded: int = 0
    events: int = 0
    new_contacts: list[int] = field(default_factory=list)


@dataclass
class Work:
    """One messaging item of a stored event, with its page, person, kind and time resolved."""

    event: WebhookEvent
    page: Page
    psid: str
    kind: str
    item: dict[str, Any]
    ts: datetime
    channel: str = Channel.MESSENGER.value

    @property
    def creates_contact(self) -> bool:
        """May this item create its contact (and conversation)? On Messenger anything but an edit;
        on Instagram only what the person does themselves, never an echo, a read or an unsend/edit."""
        if self.kind == "message_edit":  # an edit changes a stored message, never starts a thread
            return False
        if self.channel != Channel.INSTAGRAM:
            return True
        if self.kind == "message":
            return not self.item["message"].get("is_deleted")
        return self.kind in {"postback", "reaction", "referral", "optin"}


@dataclass
class Batch:
    """Rows loaded once for every item of a batch (see `lookups.prepare`)."""

    contacts: dict[tuple[int, str], Contact] = field(default_factory=dict)
    convs: dict[int, Conversation] = field(default_factory=dict)  # by contact id
    mids: set[str] = field(default_factory=set)  # mids already stored (or added in this batch)
    arrivals: set[int] = field(default_factory=set)  # conversation ids created or reopened (auto-assign)


def dedupe_key(kind: str, psid: str, item: dict[str, Any]) -> str:
    """A stable pseudo-mid for events without one (reactions, referrals, optins), so retries dedupe."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return f"x:{kind}:{keyed_hash(psid + '|' + canonical)}"


def candidate_mid(work: Work) -> str | None:
    """The mid the item's message would be stored under (Meta's, else a pseudo-mid)."""
    body = work.item.get(work.kind if work.kind != "echo" else "message")
    if work.kind in {"message", "echo"} or (work.kind == "postback" and isinstance(body, dict) and body.get("mid")):
        return clean_str(body.get("mid"), 255) if isinstance(body, dict) else None
    if work.kind in _PSEUDO_MID_KINDS:
        return dedupe_key(work.kind, work.psid, work.item)
    return None
