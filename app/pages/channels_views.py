"""Admin → Channels: each page's health, "Check now", "Re-subscribe" and a backfill from a date.

Thin: every rule is in app/pages/health.py and app/pages/backfill.py. Also the dashboard banner
(failing pages, for Admins and Support Managers) through a template helper.
"""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_login import current_user
from sqlalchemy import select

from app import db
from app.core.roles import ROLE_ADMIN, ROLE_SUPPORT_MANAGER
from app.pages import backfill, health
from app.pages.exceptions import PageError
from app.pages.models import Page
from app.privacy.page_menu import PageMenuError, set_privacy_menu

logger = logging.getLogger(__name__)
BANNER_ROLES = {ROLE_ADMIN, ROLE_SUPPORT_MANAGER}


def readable(value: datetime | None) -> str:
    """A date for people: minutes, UTC, no microseconds; empty is "—"."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


class ChannelsView(BaseView):
    """Admin only (`Channels` permission)."""

    route_base = "/admin/channels"
    class_permission_name = "Channels"
    method_permission_name = {
        "index": "read",
        "check": "write",
        "resubscribe": "write",
        "backfill": "write",
        "privacy_menu": "write",
    }
    base_permissions = ["can_read", "can_write"]
    default_view = "index"

    @expose("/")
    @has_access
    def index(self) -> ResponseReturnValue:
        pages = db.session.scalars(select(Page).order_by(Page.name)).all()
        html: str = self.render_template(
            "pages/channels.html",
            pages=pages,
            version_warning=health.version_warning(current_app.config),
            version=current_app.config.get("GRAPH_API_VERSION"),
            readable=readable,
            required_scopes=health.required_scopes,
        )
        return html

    def _page_or_flash(self, page_id: int) -> Page | None:
        page = db.session.get(Page, page_id)
        if page is None:
            flash("No such page (it may have been removed).", "danger")
        return page

    @expose("/<int:page_id>/check", methods=["POST"])
    @has_access
    def check(self, page_id: int) -> ResponseReturnValue:
        page = self._page_or_flash(page_id)
        if page is not None:
            result = health.do_check_page(page)
            level = {"ok": "success", "warning": "warning"}.get(result.status.value, "danger")
            flash(f"{result.name}: {result.status.value} — {result.reason}", level)
        return redirect(url_for(".index")), 303

    @expose("/<int:page_id>/resubscribe", methods=["POST"])
    @has_access
    def resubscribe(self, page_id: int) -> ResponseReturnValue:
        page = self._page_or_flash(page_id)
        if page is not None:
            try:
                health.do_resubscribe(page, reason="admin button")
                db.session.commit()
            except PageError as exc:
                db.session.rollback()
                flash(f"Not re-subscribed: {exc}", "danger")
                return redirect(url_for(".index")), 303
            result = health.do_check_page(page)
            flash(f"{page.name} re-subscribed; check: {result.status.value} — {result.reason}", "success")
        return redirect(url_for(".index")), 303

    @expose("/<int:page_id>/backfill", methods=["POST"])
    @has_access
    def backfill(self, page_id: int) -> ResponseReturnValue:
        page = self._page_or_flash(page_id)
        if page is not None:
            try:
                since = backfill.queue_backfill(page, request.form.get("since") or "")
            except PageError as exc:
                flash(f"Backfill not started: {exc}", "danger")
                return redirect(url_for(".index")), 303
            flash(f"Backfill of {page.name} since {readable(since)} queued; the audit log records its counts.", "info")
        return redirect(url_for(".index")), 303

    @expose("/<int:page_id>/privacy-menu", methods=["POST"])
    @has_access
    def privacy_menu(self, page_id: int) -> ResponseReturnValue:
        """The Privacy entries of the page's Messenger menu (and Instagram ice breakers)."""
        page = self._page_or_flash(page_id)
        if page is not None:
            try:
                result = set_privacy_menu(page.fb_page_id)
            except PageMenuError as exc:
                db.session.rollback()
                flash(f"Privacy menu not set: {exc}", "danger")
                return redirect(url_for(".index")), 303
            flash(" ".join(result.lines()), "success")
        return redirect(url_for(".index")), 303


def _banner() -> list[Page]:
    """Failing pages for the dashboard banner (Admins and Support Managers only)."""
    if not current_user.is_authenticated:
        return []
    if not {r.name for r in getattr(current_user, "roles", [])} & BANNER_ROLES:
        return []
    return health.failing_pages()


def register(ab: AppBuilder) -> None:
    ab.add_view(ChannelsView, "Channels", icon="fa-heartbeat", category="Admin", href="/admin/channels/")
    app: Any = current_app
    app.context_processor(lambda: {"failing_channels": _banner})
    warning = health.version_warning(app.config)
    if warning:
        logger.warning("channel health: %s (see docs/channels.md)", warning)
