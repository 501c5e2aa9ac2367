"""SQLAlchemy session listeners that audit every insert/update/delete (placeholder)."""

from __future__ import annotations

from flask import Flask


def install(app: Flask) -> None:
    """Attach the listeners once per process."""
