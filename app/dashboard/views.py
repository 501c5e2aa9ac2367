"""Home dashboard (per role) and the Admins' queue monitor; thin wrappers over services."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, BaseView, IndexView, expose, has_access
from flask_login import current_user

from app.core.roles import ROLE_AGENT
from app.core.scheduler import snapshot
from app.dashboard import charts, csat, privacy_trends, queues, services
from app.dashboard.exceptions import QueueError

logger = logging.getLogger(__name__)


class DashboardIndexView(IndexView):
    """Anonymous users go to the login page; everyone else sees the panels they may read.

    Panels follow permissions (the same ones that guard the grids the panels link to), so a
    role change in roles.py changes the dashboard too.
    """

    @expose("/")
    def index(self) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        sm = self.appbuilder.sm
        can = sm.has_access
        role_names = {r.name for r in getattr(current_user, "roles", [])}
        panels = services.build(
            conversations=can("can_read", "Conversation"),
            messages=can("can_read", "Message"),
            pages=can("can_read", "Page"),
            webhooks=can("can_read", "WebhookEvent"),
            privacy=can("can_read", "PrivacyRequest"),
            queues=can("can_read", "QueueDashboard"),
            user_id=current_user.id if ROLE_AGENT in role_names else None,
            team_panel=can("can_assign", "Conversation"),  # Support Managers and Admins
        )
        volume_chart = response_chart = None
        if panels.messages:
            volume = panels.data["volume"]
            volume_chart = charts.grouped_bars(
                volume["days"], [("in", "series-in", volume["in"]), ("out", "series-out", volume["out"])]
            )
            response = panels.data["response"]
            response_chart = charts.line(response["days"], response["minutes"], "median minutes", "m")
        html: str = self.render_template(
            "dashboard/index.html",
            panels=panels,
            data=panels.data,
            volume_chart=volume_chart,
            response_chart=response_chart,
            csat=csat.build() if panels.conversations else None,
            privacy_trends=privacy_trends.build() if panels.privacy else None,
        )
        return html


def _fmt_utc(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class QueueDashboardView(BaseView):
    """Admin only (`QueueDashboard` permission): queue depths, failed jobs, requeue."""

    route_base = "/admin/queues"
    class_permission_name = "QueueDashboard"
    method_permission_name = {"index": "read", "requeue": "write", "requeue_all": "write", "run_job": "write"}
    base_permissions = ["can_read", "can_write"]
    default_view = "index"

    @expose("/")
    @has_access
    def index(self) -> ResponseReturnValue:
        scheduler, cron_jobs = snapshot(current_app.config)
        html: str = self.render_template(
            "dashboard/queues.html",
            stats=queues.queue_stats(),
            failed=queues.failed_jobs(),
            scheduler=scheduler,
            cron_jobs=cron_jobs,
            fmt_utc=_fmt_utc,
        )
        return html

    @expose("/run-job", methods=["POST"])
    @has_access
    def run_job(self) -> ResponseReturnValue:
        """Queue one scheduled job now (outside its slot), e.g. after fixing why it failed."""
        name = (request.form.get("job") or "").strip()
        try:
            queues.run_scheduled_now(name)
        except QueueError as exc:
            flash(f"Not queued: {exc}", "danger")
            return redirect(url_for(".index")), 303
        flash(f"{name} queued; its result shows here when a worker has run it.", "info")
        return redirect(url_for(".index")), 303

    @expose("/requeue", methods=["POST"])
    @has_access
    def requeue(self) -> ResponseReturnValue:
        """Requeue one failed job; a bad queue or job id is flashed, a requeue is audited."""
        queue = (request.form.get("queue") or "").strip()
        job_id = (request.form.get("job_id") or "").strip()
        try:
            queues.requeue(queue, job_id)
        except QueueError as exc:
            flash(f"Not requeued: {exc}", "danger")
            return redirect(url_for(".index")), 303
        queues.audit_requeue(queue, job_id, 1)
        flash("Job requeued.", "info")
        return redirect(url_for(".index")), 303

    @expose("/requeue-all", methods=["POST"])
    @has_access
    def requeue_all(self) -> ResponseReturnValue:
        count = queues.requeue_all()
        if count:
            queues.audit_requeue(None, None, count)
        flash(f"{count} failed job(s) requeued.", "info")
        return redirect(url_for(".index")), 303


def register(ab: AppBuilder) -> None:
    """The index view comes from FAB_INDEX_VIEW; the queue monitor goes under Admin."""
    ab.add_view(QueueDashboardView, "Queues", icon="fa-tasks", category="Admin", href="/admin/queues/")
