"""Privacy requests admin (placeholder grid; the privacy issue fills it in)."""

from __future__ import annotations

from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.core.roles import READ_WRITE_METHODS
from app.privacy.models import PrivacyRequest

PRIVACY_METHODS = {**READ_WRITE_METHODS, "add": "create", "post": "create"}


class PrivacyRequestModelView(ModelView):
    datamodel = SQLAInterface(PrivacyRequest)
    class_permission_name = "PrivacyRequest"
    method_permission_name = PRIVACY_METHODS
    list_title = "Privacy requests"
    list_columns = [
        "id",
        "request_type",
        "contact",
        "status",
        "source",
        "due_at",
        "completed_at",
    ]
    show_columns = [
        "id",
        "request_type",
        "contact",
        "status",
        "source",
        "requested_by",
        "approved_by",
        "received_at",
        "due_at",
        "completed_at",
        "result",
        "error",
    ]
    add_columns = ["request_type", "contact"]
    search_columns = ["request_type", "status", "source", "due_at"]
    order_columns = ["id", "due_at", "status"]


def register(ab: AppBuilder) -> None:
    ab.add_view(
        PrivacyRequestModelView,
        "Privacy Requests",
        icon="fa-user-secret",
        category="Privacy",
    )
