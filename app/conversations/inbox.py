"""The agents' inbox (`/conversations/`) and conversation view (`/conversations/<id>`)."""

from __future__ import annotations

from flask_appbuilder import BaseView, expose, has_access


class InboxView(BaseView):
    route_base = "/conversations"
    class_permission_name = "Conversation"
    method_permission_name = {"index": "read", "detail": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("conversations/inbox.html", conversations=[])

    @expose("/<int:pk>")
    @has_access
    def detail(self, pk: int):
        return self.render_template("conversations/inbox.html", conversations=[])
