"""CSV export of the conversations grid (Support Managers and Admins: the `export` permission).

Same rules as the contacts export (app/contacts/export.py): the grid's filters, keyset
batches, formula-safe cells, one audit row with the filter columns and the row count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Select, func, select

from app import db
from app.audit.service import record
from app.contacts.models import Contact
from app.conversations.models import Conversation
from app.core.csv_stream import csv_lines, keyset_rows
from app.pages.models import Page

HEADER = ["id", "contact id", "contact", "page", "status", "assignee", "last message", "unread", "created"]
_COLUMNS = (
    Conversation.id,
    Conversation.contact_id,
    Contact.first_name,
    Contact.last_name,
    Contact.erased_at,
    Page.name,
    Conversation.status,
    User.username,
    Conversation.last_message_at,
    Conversation.unread_count,
    Conversation.created_at,
)


def _shape(row: Sequence[Any]) -> list[Any]:
    cid, contact_id, first, last, erased, page, status, assignee, last_at, unread, created = row
    name = "[erased contact]" if erased else " ".join(p for p in (first, last) if p)
    return [cid, contact_id, name, page, status, assignee, last_at, unread, created]


def filtered(filters: Any) -> Select[Any]:
    query = (
        db.session.query(*_COLUMNS)
        .select_from(Conversation)
        .join(Page, Page.id == Conversation.page_id)
        .outerjoin(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(User, User.id == Conversation.assignee_id)
    )
    if filters is not None:
        query = filters.apply_all(query)
    statement: Select[Any] = query.statement
    return statement


def conversations_csv(filters: Any, filter_summary: list[str]) -> Iterator[str]:
    """Count, audit (committed before the first byte) and return the CSV stream."""
    query = filtered(filters)
    rows = int(db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    record("grid_exported", "conversation", None, {"grid": "conversations", "filters": filter_summary, "rows": rows})
    db.session.commit()
    return csv_lines(HEADER, keyset_rows(query, Conversation.id), _shape)
