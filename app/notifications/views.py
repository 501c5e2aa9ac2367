"""The notifications page (`/notifications/`), mark read, and the navbar bell's count.

Thin: every query is in services.py and always for the logged-in person's own rows.
"""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

import logging

from flask import abort, flash, g, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import BaseView, expose, has_access
from flask_login import current_user

from app.notifications import services
from app.notifications.models import KIND_LABELS
from app.notifications.permissions import NOTIFICATION_METHODS

logger = logging.getLogger(__name__)


def unread_for_navbar() -> int | None:
    """The bell's count for the logged-in person (None: nobody logged in, or no bell)."""
    user = getattr(g, "user", None) or current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return services.unread_count(user.id)
    except Exception:
        logger.exception("could not count unread notifications")
        return None


class NotificationsView(BaseView):
    route_base = "/notifications"
    class_permission_name = "Notification"
    method_permission_name = NOTIFICATION_METHODS
    base_permissions = ["can_read", "can_write"]
    default_view = "index"

    @expose("/")
    @has_access
    def index(self) -> ResponseReturnValue:
        """The person's notifications, newest first, unread ones marked."""
        rows = services.recent(g.user.id)
        html: str = self.render_template(
            "notifications/list.html", rows=rows, labels=KIND_LABELS, unread=services.unread_count(g.user.id)
        )
        return html

    @expose("/count")
    @has_access
    def count(self) -> ResponseReturnValue:
        """The bell's number as JSON (the navbar refreshes it without a reload)."""
        return jsonify({"unread": services.unread_count(g.user.id)})

    @expose("/<int:pk>/open", methods=["POST"])
    @has_access
    def open(self, pk: int) -> ResponseReturnValue:
        """Mark read and go to what the notification is about."""
        row = services.mark_read(g.user.id, pk)
        if row is None:
            abort(404)
        if row.conversation_id is not None:
            return redirect(url_for("InboxView.detail", pk=row.conversation_id))
        if row.privacy_request_id is not None:
            return redirect(url_for("PrivacyRequestModelView.show", pk=row.privacy_request_id))
        return redirect(url_for("NotificationsView.index"))

    @expose("/<int:pk>/read", methods=["POST"])
    @has_access
    def mark_read(self, pk: int) -> ResponseReturnValue:
        if services.mark_read(g.user.id, pk) is None:
            abort(404)
        flash("Notification marked as read.", "success")
        return redirect(url_for("NotificationsView.index"))

    @expose("/read-all", methods=["POST"])
    @has_access
    def mark_all_read(self) -> ResponseReturnValue:
        count = services.mark_all_read(g.user.id)
        flash(f"{count} notification{'s' if count != 1 else ''} marked as read.", "success")
        return redirect(url_for("NotificationsView.index"))
