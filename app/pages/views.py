"""Admin grid for pages. Tokens are write-only: a password field in, last 4 characters out."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from typing import Any

from flask import flash
from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import BooleanField, Form, PasswordField, SelectField
from wtforms.fields import Field
from wtforms.validators import Optional, ValidationError

from app.core.roles import READ_WRITE_METHODS
from app.pages import channels_views, health, services
from app.pages.api import PageApi
from app.pages.exceptions import PageError
from app.pages.models import AutoAssign, Page
from app.pages.workspace import MODE_LABELS, check_auto_assign

WHERE_IT_COMES_FROM = (
    "Where it comes from: Meta for Developers → your app → Messenger → Settings → Access Tokens "
    "(or Graph API Explorer: pick the Page, then generate a Page access token). It needs the "
    "permissions pages_messaging and pages_manage_metadata (plus instagram_manage_messages when "
    "the Page's Instagram account is linked). It is checked with Meta on save, stored encrypted "
    "and never shown again (only its last 4 characters)."
)


class GraphTokenCheck:
    """Form validator: Meta must accept the token (debug_token) before it is saved; the form
    comes back with its fields and the reason next to the token field."""

    def __call__(self, form: Form, field: Field) -> None:
        token = (field.data or "").strip()
        if not token:
            return
        try:
            page_id = form.fb_page_id.data if hasattr(form, "fb_page_id") else None
            _token, warning = health.check_new_token(token, page_id)
        except PageError as exc:
            raise ValidationError(str(exc)) from None
        if warning:
            flash(f"Saved, but {warning}.", "warning")


class PageModelView(ModelView):
    show_template = "audit/show_with_history.html"
    datamodel = SQLAInterface(Page)
    class_permission_name = "Page"
    method_permission_name = READ_WRITE_METHODS
    list_title = "Pages"
    list_columns = [
        "name",
        "fb_page_id",
        "token_hint",
        "subscribed",
        "needs_reauth",
        "health_status",
        "retention_days",
        "auto_assign",
    ]
    show_columns = [
        "name",
        "fb_page_id",
        "token_hint",
        "token_updated_at",
        "subscribed",
        "needs_reauth",
        "reauth_reason",
        "health_status",
        "health_reason",
        "health_checked_at",
        "retention_days",
        "auto_assign",
        "csat_enabled",
        "created_at",
        "ig_account_id",
    ]
    add_columns = [
        "name",
        "fb_page_id",
        "new_access_token",
        "retention_days",
        "ig_account_id",
        "auto_assign",
        "csat_enabled",
    ]
    # `subscribed` is Meta's answer (the channel check), not something typed in
    edit_columns = ["name", "new_access_token", "retention_days", "ig_account_id", "auto_assign", "csat_enabled"]
    search_columns = ["name", "fb_page_id", "needs_reauth", "subscribed"]
    order_columns = ["name", "fb_page_id", "retention_days"]
    label_columns = {
        "fb_page_id": "Facebook Page ID",
        "token_hint": "Access token",
        "needs_reauth": "Needs re-authorisation",
        "retention_days": "Keep messages (days)",
        "subscribed": "Subscribed (last check)",
        "health_status": "Channel health",
        "health_reason": "Health reason",
        "health_checked_at": "Last health check",
        "ig_account_id": "Instagram account ID",
        "auto_assign": "Auto-assign",
        "csat_enabled": "CSAT survey on close",
    }
    description_columns = {
        "retention_days": "Messages and webhook events older than this are removed daily.",
        "ig_account_id": "Optional: the linked Instagram professional account (Instagram Direct messages).",
        "auto_assign": "Hand new conversations to online Agents and Support Managers under their capacity.",
        "csat_enabled": 'Ask "How did we do?" (1-5) when a conversation is closed inside the 24-hour window.',
    }
    _workspace_fields = {
        "auto_assign": SelectField(
            "Auto-assign",
            choices=[(m.value, label) for m, label in MODE_LABELS.items()],
            widget=Select2Widget(),
            default=AutoAssign.OFF.value,
        ),
        # a NOT NULL boolean: FAB's generated field would require it to be ticked
        "csat_enabled": BooleanField("CSAT survey on close", default=False),
    }
    add_form_extra_fields = {
        "new_access_token": PasswordField(
            "Page access token",
            description=WHERE_IT_COMES_FROM,
            widget=BS3PasswordFieldWidget(),
            validators=[Optional(), GraphTokenCheck()],
        ),
        **_workspace_fields,
    }
    edit_form_extra_fields = {
        "new_access_token": PasswordField(
            "New access token",
            description="Leave empty to keep the current token. " + WHERE_IT_COMES_FROM,
            widget=BS3PasswordFieldWidget(),
            validators=[Optional(), GraphTokenCheck()],
        ),
        **_workspace_fields,
    }

    def _apply_token(self, item: Page) -> None:
        token = getattr(item, "new_access_token", None)
        if token:
            services.set_token(item, token)

    def pre_add(self, item: Page) -> None:
        """A new page needs a valid token; FAB flashes the refusal."""
        check_auto_assign(item.auto_assign or AutoAssign.OFF.value)
        if not getattr(item, "new_access_token", None):
            raise PageError("a new page needs its access token")
        services.validate_token(item.new_access_token)
        item.ig_account_id = services.clean_ig_account_id(item.ig_account_id, item)

    def post_add(self, item: Any) -> None:
        self._apply_token(item)
        self.datamodel.session.commit()
        self._check(item)

    def post_update(self, item: Any) -> None:
        if getattr(item, "new_access_token", None):
            self._check(item)

    def _check(self, item: Page) -> None:
        """After a new token: the channel check, so `subscribed` and the health are Meta's answer."""
        try:
            health.do_check_page(item)
        except Exception:  # noqa: BLE001 - the page is saved; the daily check retries
            self.datamodel.session.rollback()

    def pre_update(self, item: Page) -> None:
        item.ig_account_id = services.clean_ig_account_id(item.ig_account_id, item)
        check_auto_assign(item.auto_assign)
        self._apply_token(item)


def register(ab: AppBuilder) -> None:
    ab.add_view(PageModelView, "Pages", icon="fa-flag", category="CRM")
    ab.add_api(PageApi)
    channels_views.register(ab)
