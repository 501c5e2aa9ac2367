"""Audit log grid, read-only (placeholder; the audit issue fills it in)."""

from __future__ import annotations

from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.audit.models import AuditLog
from app.core.roles import READ_WRITE_METHODS

READ_ONLY = {k: v for k, v in READ_WRITE_METHODS.items() if v == "read"}


class AuditLogModelView(ModelView):
    datamodel = SQLAInterface(AuditLog)
    class_permission_name = "AuditLog"
    method_permission_name = READ_ONLY
    base_permissions = ["can_read"]
    list_title = "Audit log"
    list_columns = [
        "created_at",
        "actor_name",
        "action",
        "entity_type",
        "entity_id",
        "ip",
    ]
    show_columns = [
        "id",
        "created_at",
        "actor_id",
        "actor_name",
        "action",
        "entity_type",
        "entity_id",
        "changes",
        "ip",
        "user_agent",
        "request_id",
        "prev_hash",
        "hash",
    ]
    search_columns = ["actor_name", "action", "entity_type", "entity_id", "created_at"]
    order_columns = ["id", "created_at", "action"]
    base_order = ("id", "desc")


def register(ab: AppBuilder) -> None:
    from app.audit.api import AuditLogApi

    ab.add_view(AuditLogModelView, "Audit Log", icon="fa-history", category="Privacy")
    ab.add_api(AuditLogApi)
