"""CSV export of the contacts grid (Support Managers and Admins: the `export` permission).

Only what the grid's filters select; streamed in keyset batches (flat memory at a million
rows); formula-safe cells; audited once per export with who, which grid, the filter columns
and operations and the row count (no filter values: they may be names or PSIDs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Select, func, select

from app import db
from app.audit.service import record
from app.contacts.models import Contact
from app.core.csv_stream import csv_lines, keyset_rows
from app.pages.models import Page

HEADER = [
    "id",
    "name",
    "page",
    "psid",
    "tags",
    "opted out of marketing",
    "under 13",
    "first seen",
    "last message from contact",
    "erased",
]
_COLUMNS = (
    Contact.id,
    Contact.first_name,
    Contact.last_name,
    Page.name,
    Contact.psid,
    Contact.tags,
    Contact.marketing_opt_out,
    Contact.is_minor,
    Contact.first_seen_at,
    Contact.last_inbound_at,
    Contact.erased_at,
)


def _shape(row: Sequence[Any]) -> list[Any]:
    cid, first, last, page, psid, tags, opt_out, minor, first_seen, last_in, erased = row
    name = "[erased contact]" if erased else " ".join(p for p in (first, last) if p)
    return [cid, name, page, None if erased else psid, tags, opt_out, minor, first_seen, last_in, erased is not None]


def filtered(filters: Any) -> Select[Any]:
    """The export's columns for the rows the grid's filters (FAB `Filters`) select."""
    query = db.session.query(*_COLUMNS).join(Page, Page.id == Contact.page_id)
    if filters is not None:
        query = filters.apply_all(query)
    statement: Select[Any] = query.statement
    return statement


def contacts_csv(filters: Any, filter_summary: list[str]) -> Iterator[str]:
    """Count, audit (committed before the first byte) and return the CSV stream."""
    query = filtered(filters)
    rows = int(db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    record("grid_exported", "contact", None, {"grid": "contacts", "filters": filter_summary, "rows": rows})
    db.session.commit()
    return csv_lines(HEADER, keyset_rows(query, Contact.id), _shape)
