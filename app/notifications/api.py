"""REST resource `notification`: the caller's own notifications only; `read_at` is settable.

Someone else's notification does not exist for the caller: reading or updating it is a 404
(FAB applies `base_filters` to list, show and update alike).
"""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import g
from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.notifications import services
from app.notifications.models import Notification
from app.notifications.permissions import NOTIFICATION_METHODS
from app.web.api import OmniModelRestApi

COLUMNS = ["id", "user_id", "kind", "conversation_id", "privacy_request_id", "created_at", "read_at"]


def _caller_id() -> int:
    return int(g.user.id)


class NotificationApi(OmniModelRestApi):
    resource_name = "notification"
    datamodel = SQLAInterface(Notification)
    class_permission_name = "Notification"
    method_permission_name = NOTIFICATION_METHODS
    include_route_methods = {"get", "get_list", "info", "put"}
    base_filters = [["user_id", FilterEqualFunction, _caller_id]]
    list_columns = COLUMNS
    show_columns = COLUMNS
    edit_columns = ["read_at"]
    search_columns = ["kind", "read_at", "created_at", "conversation_id"]
    order_columns = ["id", "created_at", "read_at"]
    base_order = ("id", "desc")
    openapi_spec_tag = "Notifications"

    def pre_update(self, item: Notification) -> None:
        """Belt and braces: the base filter already hides other people's rows."""
        services.check_update(item, _caller_id())
