# Flask-AppBuilder ships no type hints: its widgets and filters are Any to mypy.
# mypy: allow-subclassing-any
"""Erased contacts (tombstones) in the contacts grid: hidden by default, read-only when shown.

An erasure keeps a contact row with every personal field emptied (app/privacy/erasure.py).
In the grid such a row used to read "[erased contact] None None False" with Edit and Delete.
`TombstoneListMixin` (first in the view's bases) leaves them out unless `?erased=1` asks for
them, and then shows each as "Erased contact (date)" without Edit/Delete buttons. Empty cells
read "—", booleans Yes/No.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.widgets import ListWidget
from sqlalchemy import select

from app import db
from app.contacts.models import Contact

ERASED_ARG = "erased"


def show_erased() -> bool:
    """The grid's "Show erased contacts" switch (`?erased=1`)."""
    return request.args.get(ERASED_ARG) == "1"


def tombstone_label(erased_at: datetime) -> str:
    """The same words as `Contact.display_name` of a tombstone."""
    return f"Erased contact ({erased_at.strftime('%d %B %Y')})"


def _dash(value: Any) -> Any:
    return "—" if value is None or value == "" else value


def _yes_no(value: Any) -> str:
    return "—" if value is None else ("Yes" if value else "No")


def _when(value: Any) -> Any:
    return value.strftime("%d %b %Y, %H:%M") if isinstance(value, datetime) else _dash(value)


class FilterNotErased(BaseFilter):
    """Live contacts only (no tombstones)."""

    name = "Not erased"
    arg_name = "ner"

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(Contact.erased_at.is_(None))


class TombstoneListWidget(ListWidget):
    template = "contacts/_list_widget.html"


class TombstoneListMixin:
    """ModelView mixin for the contacts grid (see the module docstring)."""

    list_widget = TombstoneListWidget
    list_template = "contacts/list.html"
    # read by FAB through the view; typed loosely because FAB's attributes are untyped
    formatters_columns: dict[str, Any]
    datamodel: Any

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        defaults = {
            "psid": _dash,
            "tags": _dash,
            "page.name": _dash,
            "marketing_opt_out": _yes_no,
            "last_inbound_at": _when,
        }
        self.formatters_columns = {**defaults, **(self.formatters_columns or {})}

    def _get_list_widget(self, filters: Any, **kwargs: Any) -> Any:
        if not show_erased():
            filters = filters.copy()
            filters.add_filter("erased_at", FilterNotErased, True)
        widgets = super()._get_list_widget(filters, **kwargs)  # type: ignore[misc]
        widget = widgets["list"]
        pks = list(widget.template_args.get("pks") or [])
        erased: dict[Any, str] = {}
        if pks:
            rows = db.session.execute(
                select(Contact.id, Contact.erased_at).where(Contact.id.in_(pks), Contact.erased_at.is_not(None))
            ).all()
            erased = {row.id: tombstone_label(row.erased_at) for row in rows}
        widget.template_args["erased"] = erased
        widget.template_args["show_erased"] = show_erased()
        return widgets
