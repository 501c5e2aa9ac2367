"""Refusals of the contacts domain, as `DomainError`s (flashed in the grid, a 4xx in the API).

Not `ValueError`/`PermissionError`: a bug's stray exception stays a 500 with a traceback.
"""

from __future__ import annotations

from app.core.exceptions import DomainError


class ContactError(DomainError):
    """A contact change was refused; the message says why."""


class ContactForbidden(DomainError):
    """The caller's role may not do this to a contact (DESIGN.md's role matrix)."""

    status = 403


class ContactOnHold(ContactError):
    """The contact is under legal hold: nobody deletes it (a 409 in the API)."""

    status = 409
