"""Conversations and messages grids (the agents' inbox and thread live in inbox.py)."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import Response, request, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args
from sqlalchemy import inspect

from app.conversations import export
from app.conversations.assignment import check_assignee
from app.conversations.exceptions import ConversationError
from app.conversations.models import Conversation, Message
from app.conversations.permissions import READ_ONLY
from app.core.roles import READ_WRITE_METHODS
from app.web.formatting import ReadableGridMixin
from app.web.grid_export import csv_download, filter_summary
from app.web.grids import ScaleListMixin


def _detail_link(pk: int) -> str:
    return url_for("InboxView.detail", pk=pk)


class MessageModelView(ReadableGridMixin, ScaleListMixin, ModelView):
    datamodel = SQLAInterface(Message)
    class_permission_name = "Message"
    method_permission_name = READ_ONLY
    base_permissions = ["can_read"]
    list_title = "Messages"
    list_columns = [
        "created_at",
        "direction",
        "kind",
        "text",
        "status",
        "error_message",
    ]
    show_columns = [
        "conversation",
        "created_at",
        "direction",
        "kind",
        "text",
        "attachments",
        "status",
        "error_code",
        "error_message",
        "messaging_type",
        "tag",
        "mid",
        "sent_at",
        "delivered_at",
        "read_at",
    ]
    search_columns = ["direction", "status", "kind", "created_at"]
    order_columns = ["created_at", "status"]
    base_order = ("created_at", "desc")
    label_columns = {"direction": "In/Out", "mid": "Messenger id"}


class ConversationModelView(ReadableGridMixin, ScaleListMixin, ModelView):
    show_template = "audit/show_with_history.html"
    datamodel = SQLAInterface(Conversation)
    class_permission_name = "Conversation"
    method_permission_name = {**READ_WRITE_METHODS, "export": "export"}
    base_permissions = ["can_read", "can_write", "can_export"]
    link_columns = {"contact": _detail_link}  # the contact's name opens the conversation
    list_title = "Conversations"
    list_columns = [
        "contact",
        "page.name",
        "status",
        "assignee",
        "last_message_at",
        "unread_count",
    ]
    show_columns = [
        "contact",
        "page",
        "status",
        "assignee",
        "last_message_at",
        "last_inbound_at",
        "unread_count",
        "created_at",
    ]
    edit_columns = ["status", "assignee"]
    search_columns = ["status", "assignee", "page", "last_message_at", "unread_count", "contact_id"]
    order_columns = ["status", "last_message_at", "unread_count"]
    base_order = ("last_message_at", "desc")
    related_views = [MessageModelView]
    label_columns = {
        "page.name": "Page",
        "unread_count": "Unread",
        "last_message_at": "Last message",
        "contact_id": "Contact id",
    }
    list_template = "conversations/list_with_links.html"

    def pre_update(self, item: Conversation) -> None:
        """The grid's edit form offers every user: one who cannot reply is refused (flashed)."""
        if inspect(item).attrs.assignee.history.has_changes():
            try:
                check_assignee(item.assignee.id if item.assignee is not None else None)
            except ConversationError:
                self.datamodel.session.rollback()  # FAB only flashes: nothing half-written
                raise

    @expose("/export/")
    @has_access
    def export(self) -> Response:
        """CSV of the conversations matching the grid's filters: streamed, formula-safe, audited."""
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        return csv_download("conversations", export.conversations_csv(filters, filter_summary(request.args)))
