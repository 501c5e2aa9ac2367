"""Contact rules shared by views, API and jobs."""

from __future__ import annotations

import logging

from app import db
from app.contacts.models import Contact

logger = logging.getLogger(__name__)

MAX_NOTES = 10_000
MAX_TAGS = 500


class ContactError(ValueError):
    """A contact change was refused; the message says why."""


def clean_tags(tags: str | None) -> str | None:
    if tags is None:
        return None
    parts = [t.strip() for t in tags.replace(";", ",").split(",") if t.strip()]
    value = ", ".join(dict.fromkeys(parts))
    if len(value) > MAX_TAGS:
        raise ContactError(f"tags are limited to {MAX_TAGS} characters")
    return value or None


def update_notes(contact: Contact, notes: str | None, tags: str | None) -> None:
    if contact.erased_at:
        raise ContactError("this contact was erased")
    if notes is not None and len(notes) > MAX_NOTES:
        raise ContactError(f"notes are limited to {MAX_NOTES} characters")
    contact.notes = notes or None
    contact.tags = clean_tags(tags)
    db.session.commit()


def before_update(contact: Contact) -> None:
    """Validation shared by the grid's edit form and the API."""
    if contact.erased_at:
        raise ContactError("this contact was erased and cannot be edited")
    contact.tags = clean_tags(contact.tags)


def after_update(contact: Contact) -> None:
    """Side effects of a saved edit: a minor opens an erasure request (privacy policy §9)."""
    if contact.is_minor:
        from app.privacy import services as privacy_services

        privacy_services.open_minor_erasure(contact)
