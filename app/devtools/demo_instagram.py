"""Demo data for Instagram Direct: the first demo page's linked Instagram account and a few
Instagram conversations (text, a story mention, a story reply, an ice breaker)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.channels import Channel
from app.core.models import utcnow
from app.pages.models import Page

DEMO_IG_ACCOUNT_ID = "17841400000000001"
_CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="
# (IGSID, name, @username, [(minutes ago, direction, kind, text, story url)])
_Turn = tuple[int, str, str, str | None, str | None]
_PEOPLE: list[tuple[str, str, str, list[_Turn]]] = [
    ("1790000000000001", "Noor Haddad", "noor.rides", [
        (95, "in", "text", "Hi! Is the gravel bike still on sale?", None),
        (90, "out", "text", "Hi Noor! Yes, until Sunday.", None),
        (12, "in", "text", "Great, can I pick it up tomorrow?", None),
    ]),
    ("1790000000000002", "Lea Larsen", "lea.larsen", [
        (40, "in", "story_mention", None, _CDN + "9001"),
    ]),
    ("1790000000000003", "Kai Okafor", "kai.okafor", [
        (300, "in", "story_reply", "Where was this photo taken?", _CDN + "9002"),
        (290, "out", "text", "At our Porto shop!", None),
    ]),
    ("1790000000000004", "Mila Nguyen", "mila.ng", [
        (25 * 60, "in", "postback", "What are your opening hours?", None),
    ]),
]  # fmt: skip


def _add_thread(conv: Conversation, contact: Contact, thread: list[_Turn], n: int) -> None:
    now = utcnow()
    for turn, (minutes, direction, kind, text, url) in enumerate(thread):
        at = now - timedelta(minutes=minutes)
        db.session.add(
            Message(
                conversation=conv,
                direction=direction,
                kind=kind,
                text=text,
                attachments=[{"type": "story_mention" if kind == "story_mention" else "story", "url": url}]
                if url
                else None,
                status="received" if direction == "in" else "read",
                created_at=at,
                sent_at=None if direction == "in" else at,
                mid=f"m_demo_ig_{n}_{turn}",
                messaging_type=None if direction == "in" else "RESPONSE",
                meta={"story": {"url": url, "id": f"1795{n}"}} if kind == "story_reply" else None,
            )
        )
        conv.last_message_at = at
        if direction == "in":
            conv.last_inbound_at = contact.last_inbound_at = at
    conv.unread_count = 1 if thread[-1][1] == "in" else 0


def seed(page: Page, progress: Callable[[str], None] = print) -> None:
    """Link `page` to the demo Instagram account and add the demo Instagram conversations
    (idempotent: nothing is added when the page already has Instagram contacts)."""
    if page.ig_account_id is None:
        page.ig_account_id = DEMO_IG_ACCOUNT_ID
    mine = (Contact.page_id == page.id) & (Contact.channel == Channel.INSTAGRAM)
    existing = db.session.scalar(select(func.count()).select_from(Contact).where(mine))
    if existing:
        db.session.commit()
        progress("instagram: already seeded, skipping")
        return
    for n, (igsid, name, username, thread) in enumerate(_PEOPLE):
        first, _, last = name.partition(" ")
        contact = Contact(
            page=page, psid=igsid, channel=Channel.INSTAGRAM, first_name=first, last_name=last, username=username
        )
        conv = Conversation(page=page, contact=contact, channel=Channel.INSTAGRAM, status="open")
        db.session.add_all([contact, conv])
        _add_thread(conv, contact, thread, n)
    db.session.commit()
    progress(f"instagram: page {page.name} linked to {page.ig_account_id}, {len(_PEOPLE)} conversations")
