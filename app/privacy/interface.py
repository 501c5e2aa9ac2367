# Flask-AppBuilder ships no type hints: SQLAInterface is Any to mypy.
# mypy: allow-subclassing-any
"""The data interface of privacy requests, shared by the admin grid and the REST API."""

from __future__ import annotations

from typing import Any

from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import case

from app.privacy.models import OPEN_STATUSES, PrivacyRequest


class UrgencyInterface(SQLAInterface):
    """Default order: open requests first, most urgent (earliest due) first."""

    def apply_order_by(self, query: Any, order_column: str, order_direction: str, *args: Any, **kwargs: Any) -> Any:
        """Without an explicit order, the officer sees what is due soonest at the top."""
        if not order_column and self.obj is PrivacyRequest:
            return query.order_by(
                case((PrivacyRequest.status.in_(OPEN_STATUSES), 0), else_=1),
                PrivacyRequest.due_at.asc(),
                PrivacyRequest.id.asc(),
            )
        return super().apply_order_by(query, order_column, order_direction, *args, **kwargs)
