"""Contact rules shared by views, API and jobs."""

from __future__ import annotations

import logging

from flask import current_app, has_request_context
from sqlalchemy import inspect
from sqlalchemy.orm.attributes import History

from app import db
from app.contacts.exceptions import ContactError, ContactForbidden, ContactOnHold
from app.contacts.models import Contact
from app.privacy import requests as privacy_services

logger = logging.getLogger(__name__)

MAX_NOTES = 10_000
MAX_TAGS = 500


def may(verb: str) -> bool:
    """Whether the caller holds `can_<verb>` on contacts (app.core.roles); jobs and the CLI do."""
    if not has_request_context():
        return True
    return bool(current_app.extensions["appbuilder"].sm.has_access(f"can_{verb}", "Contact"))


def check_delete(contact: Contact) -> None:
    """The one rule for deleting a contact, used by the grid and the API.

    Only erasure (a privacy request) is meant to remove a contact; the Admin's delete stays for
    rows created by mistake, and never for a contact under legal hold.
    """
    if not may("delete"):
        raise ContactForbidden("contacts are removed by erasure (a privacy request), not deleted")
    if contact.legal_hold:
        raise ContactOnHold("this contact is under legal hold: nobody can delete it until the hold is lifted")


def _legal_hold_changed(contact: Contact) -> bool:
    history: History = inspect(contact).attrs.legal_hold.history
    if not history.added:
        return False
    return not history.deleted or bool(history.added[0]) != bool(history.deleted[0])


def set_legal_hold(contact: Contact, hold: bool) -> None:
    """Privacy Officers (and Admins) set or clear legal_hold; it stops retention and erasure."""
    if not may("legal_hold"):
        raise ContactForbidden("only a Privacy Officer or an Admin sets or clears legal_hold")
    if contact.erased_at:
        raise ContactError("this contact was erased")
    contact.legal_hold = bool(hold)
    db.session.commit()


def clean_tags(tags: str | None) -> str | None:
    """Tags as one tidy comma list (duplicates dropped), or the reason it is too long."""
    if tags is None:
        return None
    parts = [t.strip() for t in tags.replace(";", ",").split(",") if t.strip()]
    value = ", ".join(dict.fromkeys(parts))
    if len(value) > MAX_TAGS:
        raise ContactError(f"tags are limited to {MAX_TAGS} characters")
    return value or None


def update_notes(contact: Contact, notes: str | None, tags: str | None) -> None:
    """The agents' only edit of a contact: notes and tags, refused once it was erased."""
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
    if _legal_hold_changed(contact) and not may("legal_hold"):
        raise ContactForbidden("only a Privacy Officer or an Admin sets or clears legal_hold")
    contact.tags = clean_tags(contact.tags)


def after_update(contact: Contact) -> None:
    """Side effects of a saved edit: a minor opens an erasure request (privacy policy §9),
    recorded as caused by whoever marked the contact (four eyes: they cannot approve it)."""
    if contact.is_minor:
        privacy_services.open_minor_erasure(contact, caused_by_id=privacy_services.acting_user_id())
