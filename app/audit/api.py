"""REST resource `audit_log` (read-only)."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.audit.chain import COLUMNS as CHAIN_COLUMNS
from app.audit.models import AuditLog
from app.audit.permissions import READ_ONLY
from app.web.api import OmniModelRestApi

COLUMNS = list(CHAIN_COLUMNS)  # every column: the API shows the chain as stored


class AuditLogApi(OmniModelRestApi):
    resource_name = "audit_log"
    datamodel = SQLAInterface(AuditLog)
    class_permission_name = "AuditLog"
    method_permission_name = READ_ONLY
    include_route_methods = {"get", "get_list", "info"}
    list_columns = COLUMNS
    show_columns = COLUMNS
    search_columns = ["actor_name", "action", "entity_type", "entity_id", "created_at"]
    order_columns = ["id", "created_at"]
    base_order = ("id", "desc")
    openapi_spec_tag = "Audit log"
