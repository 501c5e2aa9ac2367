"""Notifications: mentions, assignments, privacy deadlines; the navbar bell and its page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from flask_appbuilder import AppBuilder


def register(ab: AppBuilder) -> None:
    """Add the notifications page, the REST resource and the bell's unread count.

    The imports wait for the call: importing a job module must not load the views.
    """
    from app.notifications.api import NotificationApi  # noqa: PLC0415 - views load on registration, not in jobs
    from app.notifications.views import NotificationsView, unread_for_navbar  # noqa: PLC0415 - views load on registration, not in jobs

    ab.add_view_no_menu(NotificationsView)
    ab.add_api(NotificationApi)
    current_app.jinja_env.globals["omnicrm_unread_notifications"] = unread_for_navbar
