# Flask-AppBuilder ships no type hints: its base classes and decorators are Any to mypy.
# mypy: allow-subclassing-any, allow-untyped-decorators
"""Admin-only grid of raw webhook events: read-only, with reprocess and an audited reveal.

Events are evidence of what Meta sent: nobody adds or edits one (a forged inbound event would
be processed like a real one), and the decrypted payload is shown only through "Reveal
payload", which needs a reason and records it in the audit log.
"""

from __future__ import annotations

import json

from flask import abort, flash, make_response, redirect, request, url_for
from flask_appbuilder import AppBuilder, ModelView, expose, has_access
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.interface import SQLAInterface
from werkzeug.wrappers import Response as WerkzeugResponse

from app import db
from app.audit.service import record
from app.core.roles import READ_WRITE_METHODS
from app.web.grids import ScaleListMixin
from app.webhooks.exceptions import RevealRefused, WebhookError
from app.webhooks.models import WebhookEvent
from app.webhooks.signals import requeue_events

MIN_REASON = 10
MAX_REASON = 500


def reveal_payload(event: WebhookEvent, reason: str | None) -> str:
    """The decrypted payload for one event, only with a reason, which is audited first."""
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise RevealRefused(f"give a reason of at least {MIN_REASON} characters")
    if len(reason) > MAX_REASON:
        raise RevealRefused(f"the reason is limited to {MAX_REASON} characters")
    record("webhook_payload_revealed", "webhook_event", event.id, {"reason": reason})
    db.session.commit()
    try:
        return json.dumps(json.loads(event.payload), indent=2, ensure_ascii=False)
    except ValueError:
        return event.payload


class WebhookEventModelView(ScaleListMixin, ModelView):
    datamodel = SQLAInterface(WebhookEvent)
    class_permission_name = "WebhookEvent"
    # add/edit/delete are left unmapped ("can_add", ...) and outside base_permissions: refused.
    method_permission_name = {
        **{k: v for k, v in READ_WRITE_METHODS.items() if v == "read"},
        "reprocess": "write",
        "reveal": "reveal",
    }
    base_permissions = ["can_read", "can_write", "can_reveal"]
    show_template = "webhooks/show.html"
    add_columns = edit_columns = ["status"]  # never built with the payload, even if reached
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
    def reprocess(self, items: WebhookEvent | list[WebhookEvent]) -> WerkzeugResponse:
        """Queue the chosen events again (after a fix, or for events left in `error`)."""
        items = items if isinstance(items, list) else [items]
        count = requeue_events([item.id for item in items])
        flash(f"{count} event(s) queued for processing.", "info")
        self.update_redirect()
        return redirect(self.get_redirect())

    @expose("/reveal/<int:pk>", methods=["GET", "POST"])
    @has_access
    def reveal(self, pk: int) -> WerkzeugResponse:
        """GET: the reason form; POST (CSRF): audit the reason, then show the payload once."""
        event = db.session.get(WebhookEvent, pk)
        if event is None:
            abort(404)
        payload = None
        if request.method == "POST":
            try:
                payload = reveal_payload(event, request.form.get("reason"))
            except WebhookError as exc:
                db.session.rollback()
                flash(f"Payload not shown: {exc}", "danger")
                return redirect(url_for(".reveal", pk=pk))
        resp = make_response(self.render_template("webhooks/reveal.html", event=event, payload=payload))
        resp.headers["Cache-Control"] = "no-store"
        return resp


def register(ab: AppBuilder) -> None:
    ab.add_view(WebhookEventModelView, "Webhook Events", icon="fa-plug", category="Admin")
