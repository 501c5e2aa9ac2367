"""Shared model helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Connection, text
from sqlalchemy.dialects.postgresql import JSONB

# JSONB on PostgreSQL (indexable, compact), JSON elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Naive UTC timestamps everywhere: one convention across SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def sqlite_write_lock(conn: Connection, table: str) -> None:
    """SQLite: take the database write lock now, for the rest of the transaction.

    A no-op write statement on `table` does it, so what the transaction reads next cannot
    race another process's write (pysqlite would otherwise read outside the write lock: lost
    updates, a forked audit chain). Nothing to do on PostgreSQL (row or advisory locks).
    """
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"UPDATE {table} SET id = id WHERE 0"))  # noqa: S608 - table is ours
