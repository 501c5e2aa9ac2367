"""Admin grid for pages. Tokens are write-only: a password field in, last 4 characters out."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from typing import Any

from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import PasswordField
from wtforms.validators import Optional

from app.core.roles import READ_WRITE_METHODS
from app.pages import services
from app.pages.api import PageApi
from app.pages.exceptions import PageError
from app.pages.models import Page


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
        "created_at",
        "ig_account_id",
    ]
    add_columns = [
        "name",
        "fb_page_id",
        "new_access_token",
        "retention_days",
        "subscribed",
        "ig_account_id",
    ]
    edit_columns = ["name", "new_access_token", "retention_days", "subscribed", "ig_account_id"]
    search_columns = ["name", "fb_page_id", "needs_reauth", "subscribed"]
    order_columns = ["name", "fb_page_id", "retention_days"]
    label_columns = {
        "fb_page_id": "Facebook Page ID",
        "token_hint": "Access token",
        "new_access_token": "New access token",
        "needs_reauth": "Needs re-authorisation",
        "retention_days": "Keep messages (days)",
        "ig_account_id": "Instagram account ID",
    }
    description_columns = {
        "new_access_token": "Write-only: stored encrypted, never shown again (only its last 4 characters).",
        "retention_days": "Messages and webhook events older than this are removed daily.",
        "ig_account_id": "Optional: the linked Instagram professional account (Instagram Direct messages).",
    }
    add_form_extra_fields = {
        "new_access_token": PasswordField("New access token", widget=BS3PasswordFieldWidget(), validators=[Optional()])
    }
    edit_form_extra_fields = add_form_extra_fields

    def _apply_token(self, item: Page) -> None:
        token = getattr(item, "new_access_token", None)
        if token:
            services.set_token(item, token)

    def pre_add(self, item: Page) -> None:
        """A new page needs a valid token; FAB flashes the refusal."""
        if not getattr(item, "new_access_token", None):
            raise PageError("a new page needs its access token")
        services.validate_token(item.new_access_token)
        item.ig_account_id = services.clean_ig_account_id(item.ig_account_id, item)

    def post_add(self, item: Any) -> None:
        self._apply_token(item)
        self.datamodel.session.commit()

    def pre_update(self, item: Page) -> None:
        item.ig_account_id = services.clean_ig_account_id(item.ig_account_id, item)
        self._apply_token(item)


def register(ab: AppBuilder) -> None:
    ab.add_view(PageModelView, "Pages", icon="fa-flag", category="CRM")
    ab.add_api(PageApi)
