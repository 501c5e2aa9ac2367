"""Demo data for the agent workspace: canned replies, private notes, a mention of the agent.

Called from demo.seed(); idempotent (existing shortcuts are kept, notes are added once).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from app import appbuilder, db
from app.conversations.models import Conversation
from app.conversations.notes import add_note
from app.conversations.workspace_models import CannedReply, ConversationNote

CANNED_REPLIES = [
    (
        "hello",
        "Greeting",
        "Hi {{contact.first_name}}! This is {{agent.first_name}} from {{page.name}}. How can I help?",
    ),
    ("hours", "Opening hours", "We're open Monday to Saturday, 9:00–17:00. Anything else, {{contact.first_name}}?"),
    ("shipping", "Shipping times", "We ship in 2–4 working days; you'll get a tracking link by e-mail."),
    ("order", "Order status", "Let me check your order, {{contact.first_name}} — one moment please."),
    ("thanks", "Thanks and goodbye", "Thanks for writing to {{page.name}}, {{contact.first_name}}! Have a great day."),
]
NOTES = [
    ("manager", "@agent can you follow up on this one? They asked about delivery twice."),
    ("agent", "Offered a replacement; waiting for the customer's photos."),
    ("manager", "VIP customer — @agent please answer within the hour."),
]


def seed_workspace(progress: Callable[[str], None] = print) -> None:
    """Canned replies for every page, and a few notes (one mentions the demo agent)."""
    existing = set(db.session.scalars(select(CannedReply.shortcut)))
    for shortcut, title, text in CANNED_REPLIES:
        if shortcut not in existing:
            db.session.add(CannedReply(shortcut=shortcut, title=title, text=text))
    db.session.commit()
    progress(f"canned replies: {len(CANNED_REPLIES)} ready (type / in the reply box)")
    if db.session.scalar(select(func.count(ConversationNote.id))):
        progress("notes: already seeded, skipping")
        return
    conversations = list(
        db.session.scalars(
            select(Conversation)
            .where(Conversation.status == "open")
            .order_by(Conversation.last_message_at.desc())
            .limit(len(NOTES))
        )
    )
    for conversation, (username, text) in zip(conversations, NOTES, strict=False):
        author = appbuilder.sm.find_user(username=username)
        add_note(conversation, text, author_id=author.id if author else None)
    progress(f"notes: {min(len(conversations), len(NOTES))} private notes (the agent has mentions in the bell)")
