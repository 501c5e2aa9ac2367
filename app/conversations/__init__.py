"""Conversations between a Page and a contact, and their messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from flask_appbuilder import AppBuilder


def register(ab: AppBuilder) -> None:
    """Add the inbox, the grids and the REST APIs to the admin (app.register_views).

    The imports wait for the call: importing a job module (tasks.py) must not load the views.
    """
    from app.conversations.api import ConversationApi, MessageApi, allow_reply_uploads  # noqa: PLC0415 - views load on registration, not in jobs
    from app.conversations.inbox import InboxView  # noqa: PLC0415 - views load on registration, not in jobs
    from app.conversations.views import ConversationModelView, MessageModelView  # noqa: PLC0415 - views load on registration, not in jobs

    allow_reply_uploads()
    ab.add_view(InboxView, "Inbox", icon="fa-inbox", category="CRM", href="/conversations/")
    ab.add_view(ConversationModelView, "Conversations", icon="fa-comments", category="CRM")
    ab.add_view(MessageModelView, "Messages", icon="fa-envelope", category="CRM")
    ab.add_api(ConversationApi)
    ab.add_api(MessageApi)
    from app.conversations.workspace import api as workspace_api  # noqa: PLC0415 - views load on registration, not in jobs
    from app.conversations.workspace import views as workspace_views  # noqa: PLC0415 - views load on registration, not in jobs

    ab.add_view(workspace_views.CannedReplyModelView, "Canned Replies", icon="fa-bolt", category="CRM")
    ab.add_view_no_menu(workspace_views.CannedPickerView)
    ab.add_view_no_menu(workspace_views.NoteView)
    ab.add_api(workspace_api.CannedReplyApi)
    ab.add_api(workspace_api.ConversationNoteApi)
    workspace_views.install_template_globals(current_app)
    register_workspace(ab)


def register_workspace(ab: AppBuilder) -> None:
    """Availability (navbar toggle, `/api/v1/me/availability`) and the auto-assign/CSAT settings."""
    from app.conversations.staffing import views as staffing_views  # noqa: PLC0415 - views load on registration, not in jobs
    from app.conversations.staffing.api import MyAvailabilityApi  # noqa: PLC0415 - views load on registration, not in jobs

    staffing_views.register(ab)
    ab.add_api(MyAvailabilityApi)
