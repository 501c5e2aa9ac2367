"""Admin → Outbox: every mail the product queued, its status, and re-sending a failed one."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its views and decorators are Any to mypy.)
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, BaseView, expose, has_access

from app import db
from app.mail import outbox
from app.mail.exceptions import MailError
from app.mail.models import MailMessage
from app.mail.services import requeue


class OutboxView(BaseView):
    """Admins only (`Outbox` permission; Admin holds every permission)."""

    route_base = "/admin/outbox"
    class_permission_name = "Outbox"
    method_permission_name = {"index": "read", "show": "read", "resend": "write"}
    base_permissions = ["can_read", "can_write"]
    default_view = "index"

    @expose("/")
    @has_access
    def index(self) -> ResponseReturnValue:
        page = request.args.get("p", "1")
        listing = outbox.list_page(int(page) if page.isdigit() else 1)
        html: str = self.render_template("mail/outbox.html", listing=listing, embedded=outbox.embedded_mode())
        return html

    @expose("/<int:mail_id>")
    @has_access
    def show(self, mail_id: int) -> ResponseReturnValue:
        row = db.session.get(MailMessage, mail_id)
        if row is None:
            abort(404)
        html: str = self.render_template(
            "mail/show.html", row=row, copy=outbox.received_copy(row), embedded=outbox.embedded_mode()
        )
        return html

    @expose("/<int:mail_id>/resend", methods=["POST"])
    @has_access
    def resend(self, mail_id: int) -> ResponseReturnValue:
        try:
            requeue(mail_id)
        except MailError as exc:
            flash(f"Not sent again: {exc}", "danger")
            return redirect(url_for(".index")), 303
        db.session.commit()
        flash("The mail is queued again; its status shows here when a worker has sent it.", "info")
        return redirect(url_for(".show", mail_id=mail_id)), 303


def register(ab: AppBuilder) -> None:
    ab.add_view(OutboxView, "Outbox", icon="fa-envelope", category="Admin", href="/admin/outbox/")
