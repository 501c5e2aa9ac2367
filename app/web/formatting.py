"""How values read in every grid and record page: dates, Yes/No, "—", tags as badges.

`readable` is one formatter for any value; `ReadableGridMixin` applies it to every list and
show column of a ModelView that has no formatter of its own, adds links on chosen columns
(`link_columns`: column -> function of the row's pk returning a URL), page sizes up to
MAX_PAGE_SIZE and a line naming the active filters. Dates are rendered as
`<time datetime="...Z">30 Nov 2026, 14:05 UTC</time>`; a few lines of script (omnicrm.js)
turn them into the reader's local time, and without script the UTC text stays readable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask_appbuilder.widgets import ListWidget
from markupsafe import Markup, escape

EMPTY = "—"
PAGE_SIZES = (25, 50, 100, 250)
MAX_PAGE_SIZE = PAGE_SIZES[-1]


def readable_datetime(value: datetime) -> Markup:
    """A readable UTC date (no microseconds) that the page's script shows in local time."""
    iso = value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    text = value.strftime("%d %b %Y, %H:%M").lstrip("0") + " UTC"
    return Markup('<time class="omni-time" datetime="{}">{}</time>').format(iso, text)


def readable(value: Any) -> Any:
    """None/"" -> "—", booleans -> Yes/No, dates readable; anything else unchanged (escaped later)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return readable_datetime(value)
    if isinstance(value, date):
        return value.strftime("%d %b %Y").lstrip("0")
    return value


def tag_badges(value: Any) -> Any:
    """Comma-separated tags as badges (each escaped)."""
    tags = [t.strip() for t in str(value or "").split(",") if t.strip()]
    if not tags:
        return EMPTY
    return Markup(" ").join(Markup('<span class="label label-info omni-tag">{}</span>').format(t) for t in tags)


def linked(value: Any, url: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(url, readable(value))


class ReadableListWidget(ListWidget):
    template = "omnicrm/list_widget.html"


class ReadableGridMixin:
    """ModelView mixin (put it before ModelView): readable values, row links, bigger pages."""

    link_columns: dict[str, Callable[[Any], str]] = {}
    list_widget = ReadableListWidget

    def _init_properties(self) -> None:
        super()._init_properties()  # type: ignore[misc]
        formatters = dict(getattr(self, "formatters_columns", None) or {})
        for column in [*(getattr(self, "list_columns", None) or []), *(getattr(self, "show_columns", None) or [])]:
            formatters.setdefault(column, readable)
        self.formatters_columns = formatters

    def _get_list_widget(self, filters: Any, **kwargs: Any) -> Any:
        page_size = kwargs.get("page_size")
        if page_size and page_size > MAX_PAGE_SIZE:
            kwargs["page_size"] = MAX_PAGE_SIZE
        widgets = super()._get_list_widget(filters, **kwargs)  # type: ignore[misc]
        widgets["list"].template_args.update(link_columns=self.link_columns, page_sizes=PAGE_SIZES, escape=escape)
        return widgets
