"""Privacy request rules (placeholder; the privacy issue fills it in)."""

from __future__ import annotations

import logging

from app.contacts.models import Contact

logger = logging.getLogger(__name__)


def open_minor_erasure(contact: Contact) -> None:
    """A contact marked under 13 gets an erasure request (policy §9)."""
