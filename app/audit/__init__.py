"""Append-only, hash-chained audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask_appbuilder import AppBuilder


def register(ab: AppBuilder) -> None:
    """Add the audit log grid and its read-only REST API (app.register_views).

    The imports wait for the call: the listeners and jobs import this package without views.
    """
    from app.audit.api import AuditLogApi  # noqa: PLC0415 - views load on registration, not in jobs
    from app.audit.views import AuditLogModelView  # noqa: PLC0415 - views load on registration, not in jobs

    ab.add_view(AuditLogModelView, "Audit Log", icon="fa-history", category="Privacy")
    ab.add_api(AuditLogApi)
