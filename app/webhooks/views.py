"""Admin-only grid of raw webhook events, with a reprocess action."""

from __future__ import annotations

from flask import flash, redirect
from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.core.grids import ScaleListMixin
from app.core.roles import READ_WRITE_METHODS
from app.webhooks.models import WebhookEvent


class WebhookEventModelView(ScaleListMixin, ModelView):
    datamodel = SQLAInterface(WebhookEvent)
    class_permission_name = "WebhookEvent"
    method_permission_name = {**READ_WRITE_METHODS, "reprocess": "write"}
    base_permissions = ["can_read", "can_write"]
    list_title = "Webhook events"
    list_columns = ["id", "received_at", "status", "attempts", "summary", "error"]
    show_columns = [
        "id",
        "received_at",
        "processed_at",
        "status",
        "attempts",
        "page_fb_id",
        "summary",
        "error",
    ]
    search_columns = ["status", "received_at", "page_fb_id", "summary"]
    order_columns = ["id", "received_at", "status", "attempts"]
    base_order = ("id", "desc")

    @action(
        "reprocess",
        "Reprocess",
        "Queue the selected events for processing again?",
        "fa-refresh",
    )
    def reprocess(self, items):
        from app.webhooks import services

        items = items if isinstance(items, list) else [items]
        count = services.requeue_events([item.id for item in items])
        flash(f"{count} event(s) queued for processing.", "info")
        self.update_redirect()
        return redirect(self.get_redirect())


def register(ab: AppBuilder) -> None:
    ab.add_view(WebhookEventModelView, "Webhook Events", icon="fa-plug", category="Admin")
