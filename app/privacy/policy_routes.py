"""The staff banner's "I have read it" button (every staff role holds this permission)."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its views and decorators are Any to mypy.)
from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_login import current_user

from app import db
from app.privacy import policy_versions
from app.privacy.exceptions import PrivacyError
from app.web.urls import safe_next


class PolicyAcknowledgementView(BaseView):
    route_base = "/policy"
    class_permission_name = "PolicyAcknowledgement"
    method_permission_name = {"acknowledge": "write"}
    base_permissions = ["can_write"]

    @expose("/acknowledge", methods=["POST"])
    @has_access
    def acknowledge(self) -> ResponseReturnValue:
        try:
            ack = policy_versions.do_acknowledge(current_user.id, request.form.get("version_id", ""))
        except PrivacyError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(
                f"Thank you: your reading of the privacy policy is recorded ({ack.acknowledged_at:%d %b %Y}).", "info"
            )
        return redirect(safe_next(request.form.get("next"), url_for("DashboardIndexView.index"))), 303


def policy_banner() -> dict[str, object]:
    """Context for every page: the material policy change this user has not acknowledged."""
    if not getattr(current_user, "is_authenticated", False):
        return {"policy_banner": None}
    return {"policy_banner": policy_versions.pending_for(current_user.id)}


def register(ab: AppBuilder) -> None:
    ab.add_view_no_menu(PolicyAcknowledgementView)
    current_app.context_processor(policy_banner)  # registration runs inside create_app's app context
