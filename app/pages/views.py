"""Admin grid for pages. Tokens are write-only: a password field in, last 4 characters out."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from typing import Any

from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import BooleanField, PasswordField, SelectField
from wtforms.validators import Optional

from app.core.roles import READ_WRITE_METHODS
from app.pages import services
from app.pages.api import PageApi
from app.pages.exceptions import PageError
from app.pages.models import AutoAssign, Page
from app.pages.workspace import MODE_LABELS, check_auto_assign


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
        "retention_days",
        "auto_assign",
        "csat_enabled",
        "created_at",
    ]
    add_columns = [
        "name",
        "fb_page_id",
        "new_access_token",
        "retention_days",
        "subscribed",
        "auto_assign",
        "csat_enabled",
    ]
    edit_columns = ["name", "new_access_token", "retention_days", "subscribed", "auto_assign", "csat_enabled"]
    search_columns = ["name", "fb_page_id", "needs_reauth", "subscribed"]
    order_columns = ["name", "fb_page_id", "retention_days"]
    label_columns = {
        "fb_page_id": "Facebook Page ID",
        "token_hint": "Access token",
        "new_access_token": "New access token",
        "needs_reauth": "Needs re-authorisation",
        "retention_days": "Keep messages (days)",
        "auto_assign": "Auto-assign",
        "csat_enabled": "CSAT survey on close",
    }
    description_columns = {
        "new_access_token": "Write-only: stored encrypted, never shown again (only its last 4 characters).",
        "retention_days": "Messages and webhook events older than this are removed daily.",
        "auto_assign": "Hand new conversations to online Agents and Support Managers under their capacity.",
        "csat_enabled": 'Ask "How did we do?" (1-5) when a conversation is closed inside the 24-hour window.',
    }
    add_form_extra_fields = {
        "new_access_token": PasswordField("New access token", widget=BS3PasswordFieldWidget(), validators=[Optional()]),
        "auto_assign": SelectField(
            "Auto-assign",
            choices=[(m.value, label) for m, label in MODE_LABELS.items()],
            widget=Select2Widget(),
            default=AutoAssign.OFF.value,
        ),
        # a NOT NULL boolean: FAB's generated field would require it to be ticked
        "csat_enabled": BooleanField("CSAT survey on close", default=False),
    }
    edit_form_extra_fields = add_form_extra_fields

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

    def post_add(self, item: Any) -> None:
        self._apply_token(item)
        self.datamodel.session.commit()

    def pre_update(self, item: Page) -> None:
        check_auto_assign(item.auto_assign)
        self._apply_token(item)


def register(ab: AppBuilder) -> None:
    ab.add_view(PageModelView, "Pages", icon="fa-flag", category="CRM")
    ab.add_api(PageApi)
