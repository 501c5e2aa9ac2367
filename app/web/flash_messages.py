"""Flask-AppBuilder's CRUD flashes in plain words, for every grid (ours and FAB's own).

FAB flashes "Added Row", "Changed Row", "Deleted Row", "Database Error" and "Integrity error,
probably unique constraint". `install()` replaces those class attributes of `BaseCRUDView` by
properties that name the record ("Contact saved.", "User added."), so every ModelView,
including FAB's Users and Roles, speaks the same way. A view may set `record_name`.
"""

from __future__ import annotations

import re
from typing import Any

from flask_appbuilder.baseviews import BaseCRUDView

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def record_name(view: Any) -> str:
    """ "Contact", "Privacy request", "Webhook event": the view's `record_name` or its model's."""
    explicit = getattr(view, "record_name", None)
    if explicit:
        return str(explicit)
    model = getattr(getattr(view, "datamodel", None), "obj", None)
    if model is None:
        return "Record"
    words = _CAMEL.sub(" ", model.__name__).split()
    return " ".join([words[0]] + [w.lower() for w in words[1:]]) if words else "Record"


MESSAGES = {
    "add_row_message": "{name} added.",
    "edit_row_message": "{name} saved.",
    "delete_row_message": "{name} deleted.",
    "database_error_message": "The {lname} could not be saved because of a database error; nothing was changed.",
    "add_integrity_error_message": "This {lname} already exists (a unique value is taken); nothing was added.",
    "edit_integrity_error_message": "Another record already has this value; the {lname} was not saved.",
    "delete_integrity_error_message": "This {lname} is still used by other records; remove those first.",
}


def _message(template: str) -> property:
    def get(view: Any) -> str:
        name = record_name(view)
        return template.format(name=name, lname=name.lower())

    return property(get)


def install() -> None:
    """Once per process; idempotent (the same properties are set again)."""
    for attr, template in MESSAGES.items():
        setattr(BaseCRUDView, attr, _message(template))
