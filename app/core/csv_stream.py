"""Streaming, formula-safe CSV for grid exports (any number of rows, flat memory).

Rows are read in keyset batches (`WHERE id > last ORDER BY id LIMIT n`) as plain column
tuples (never ORM objects), so neither the session's identity map nor a server-side cursor
grows with the export; each batch is written and yielded before the next is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select

from app import db

#: A spreadsheet runs a cell starting with these as a formula (like the privacy export).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BATCH_SIZE = 2000


def csv_cell(value: Any) -> str:
    """One cell: booleans Yes/No, dates without microseconds, formulas neutralised with a '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "Yes" if value else "No"
    elif isinstance(value, datetime):
        text = value.replace(microsecond=0).isoformat(sep=" ")
    else:
        text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        text = "'" + text
    return text


def keyset_rows(query: Select[Any], key: Any, batch_size: int | None = None) -> Iterator[Sequence[Any]]:
    """Every row of `query` (whose first column is `key`), read in batches by ascending key."""
    batch_size = batch_size or BATCH_SIZE
    last = None
    while True:
        page = query.order_by(key).limit(batch_size)
        if last is not None:
            page = page.where(key > last)
        rows = db.session.execute(page).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]
        if len(rows) < batch_size:
            return


def csv_lines(
    header: Sequence[str], rows: Iterable[Sequence[Any]], shape: Callable[[Sequence[Any]], Sequence[Any]]
) -> Iterator[str]:
    """The header, then one chunk of CSV text per batch of rows (shaped into cells first)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(v) for v in shape(row)])
        count += 1
        if count % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
