"""Small adjustments to Flask-AppBuilder's grid filters."""

from __future__ import annotations

from typing import Any

from flask_appbuilder.models.sqla.filters import FilterContains


def contains_first(filters: Any, column: str) -> None:
    """Make "Contains" the default (first, `_flt_0_<column>`) operation of a text column.

    FAB offers "Starts with" first; for tags ("returning, vip") that misses most matches.
    The URL index of each operation follows this order, in the search form and in the links.
    """
    for table in (filters._search_filters, filters._all_filters):
        options = table.get(column)
        if not options:
            continue
        contains = [f for f in options if isinstance(f, FilterContains)]
        table[column] = contains + [f for f in options if not isinstance(f, FilterContains)]
