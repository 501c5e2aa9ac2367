"""Instagram contacts in privacy requests: Meta's data-deletion callback for Instagram users.

A callback from the app's Instagram settings names the person by their Instagram-scoped id,
which is the IGSID our Instagram contacts are keyed by; `ids_for_pages` (asked for Messenger)
may list Instagram contacts too. Both lead to the same erasure requests.
"""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.contacts.models import Contact
from app.core.channels import Channel


def instagram_contacts(scoped_user_id: str) -> list[Contact]:
    """Live Instagram contacts keyed by this Instagram-scoped id, in id order."""
    return list(
        db.session.scalars(
            select(Contact)
            .where(
                Contact.channel == Channel.INSTAGRAM,
                Contact.psid == scoped_user_id,
                Contact.erased_at.is_(None),
            )
            .order_by(Contact.id)
        )
    )


def with_instagram(contacts: list[Contact], scoped_user_id: str) -> list[Contact]:
    """`contacts` plus the Instagram contacts of the id that are not among them yet."""
    known = {c.id for c in contacts}
    return contacts + [c for c in instagram_contacts(scoped_user_id) if c.id not in known]
