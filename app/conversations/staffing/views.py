"""Browser side of the workspace settings: the navbar's online/away toggle and the Support
Managers' per-page auto-assign and CSAT settings (`/workspace/`). Thin: rules are in
availability.py and assignment.py."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its views and decorators are Any to mypy.)
from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_login import current_user
from sqlalchemy import select

from app import db
from app.conversations import assignment, availability
from app.conversations.exceptions import ConversationError
from app.pages.exceptions import PageError
from app.pages.models import AutoAssign, Page
from app.pages.workspace import MODE_LABELS


def _safe_next(value: str | None) -> str:
    """Back to the page the toggle was pressed on (same-site paths only)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return url_for("InboxView.index")


class AvailabilityView(BaseView):
    """The user menu's "Go online" / "Go away" (a POST form with CSRF)."""

    route_base = "/me/availability"
    class_permission_name = "Availability"
    method_permission_name = {"toggle": "write"}
    base_permissions = ["can_read", "can_write"]

    @expose("/", methods=["POST"])
    @has_access
    def toggle(self) -> ResponseReturnValue:
        try:
            changes = availability.check_update({"availability": request.form.get("availability", "")})
        except availability.AvailabilityError as exc:
            flash(f"Availability not changed: {exc}", "danger")
        else:
            row = availability.do_update(g.user.id, changes)
            flash(
                "You are online: new conversations can be assigned to you."
                if row.availability == availability.Availability.ONLINE
                else "You are away: no new conversations are assigned to you.",
                "success",
            )
        return redirect(_safe_next(request.form.get("next")))


class WorkspaceSettingsView(BaseView):
    """Per page: auto-assignment mode and the CSAT survey (Admins and Support Managers)."""

    route_base = "/workspace"
    class_permission_name = "WorkspaceSettings"
    method_permission_name = {"index": "read", "save": "write"}
    base_permissions = ["can_read", "can_write"]
    default_view = "index"

    @expose("/")
    @has_access
    def index(self) -> ResponseReturnValue:
        pages = list(db.session.scalars(select(Page).order_by(Page.name)))
        html: str = self.render_template(
            "conversations/workspace_settings.html",
            pages=pages,
            modes=[(m.value, MODE_LABELS[m]) for m in AutoAssign],
            team=assignment.assignee_choices(),
        )
        return html

    @expose("/<int:pk>", methods=["POST"])
    @has_access
    def save(self, pk: int) -> ResponseReturnValue:
        page = db.session.get(Page, pk)
        if page is None:
            flash("No such page.", "danger")
            return redirect(url_for(".index"))
        try:
            assignment.update_page_settings(
                page, request.form.get("auto_assign", ""), request.form.get("csat_enabled") == "y"
            )
        except (ConversationError, PageError) as exc:
            db.session.rollback()
            flash(f"Settings not saved: {exc}", "danger")
        else:
            flash(f"Settings saved for {page.name}.", "success")
        return redirect(url_for(".index"))


def my_availability() -> dict[str, Any]:
    """For the navbar (a template global): the signed-in user's availability, or None."""
    if not getattr(current_user, "is_authenticated", False):
        return {}
    return availability.get(current_user.id).as_dict()


def register(ab: AppBuilder) -> None:
    ab.add_view_no_menu(AvailabilityView)
    ab.add_view(WorkspaceSettingsView, "Assignment & CSAT", icon="fa-random", category="CRM", href="/workspace/")
    current_app.jinja_env.globals["my_availability"] = my_availability
