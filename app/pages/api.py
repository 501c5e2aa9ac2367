"""REST resource `page`; the token is accepted on write and never returned."""

from __future__ import annotations

from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import inspect
from sqlalchemy.orm.attributes import History
from werkzeug.wrappers import Response

from app import db
from app.core.roles import READ_WRITE_METHODS
from app.pages import health, services
from app.pages.exceptions import PageError
from app.pages.models import AutoAssign, Page
from app.pages.workspace import check_auto_assign
from app.web.api import OmniModelRestApi

PUBLIC_COLUMNS = [
    "id",
    "fb_page_id",
    "name",
    "token_last4",
    "retention_days",
    "subscribed",
    "needs_reauth",
    "reauth_reason",
    "health_status",
    "health_reason",
    "health_checked_at",
    "auto_assign",
    "csat_enabled",
    "created_at",
    "ig_account_id",
]


def _checked_token(item: Page) -> str:
    """The new token, checked like the form's (shape, then Meta: a refusal is a 422); when Meta
    cannot be asked it is saved and the daily channel check verifies it (logged)."""
    token, _warning = health.check_new_token(item.access_token, item.fb_page_id, instagram=bool(item.ig_account_id))
    return token


class PageApi(OmniModelRestApi):
    resource_name = "page"
    datamodel = SQLAInterface(Page)
    class_permission_name = "Page"
    # health_check: Admin only (no other role holds Page.check_health)
    method_permission_name = {**READ_WRITE_METHODS, "health_check": "check_health"}
    list_columns = PUBLIC_COLUMNS
    show_columns = PUBLIC_COLUMNS
    add_columns = [
        "fb_page_id",
        "name",
        "retention_days",
        "subscribed",
        "access_token",
        "ig_account_id",
        "auto_assign",
        "csat_enabled",
    ]
    edit_columns = [
        "name",
        "retention_days",
        "subscribed",
        "access_token",
        "ig_account_id",
        "auto_assign",
        "csat_enabled",
    ]
    write_only_columns = ("access_token",)
    search_columns = ["name", "fb_page_id", "needs_reauth"]
    order_columns = ["name", "fb_page_id", "id"]
    openapi_spec_tag = "Pages"

    def pre_add(self, item: Page) -> None:
        """A new page needs a valid token (a refusal is a 422)."""
        check_auto_assign(item.auto_assign or AutoAssign.OFF.value)
        if not item.access_token:
            raise PageError("access_token is required")
        item.ig_account_id = services.clean_ig_account_id(item.ig_account_id, item)
        item.set_token(_checked_token(item))

    def pre_update(self, item: Page) -> None:
        """A changed token is validated and stored through Page.set_token (last 4, re-auth)."""
        check_auto_assign(item.auto_assign)
        hist: History = inspect(item).attrs.access_token.history
        item.ig_account_id = services.clean_ig_account_id(item.ig_account_id, item)
        if hist.has_changes() and item.access_token:
            item.set_token(_checked_token(item))

    @expose("/<int:pk>/health-check", methods=["POST"])
    @protect()
    @safe
    def health_check(self, pk: int) -> Response:
        """Run the channel checks on one page now.
        ---
        post:
          parameters:
          - in: path
            name: pk
            schema: {type: integer}
          responses:
            200: {description: the check's result (health_status, health_reason, findings)}
            404: {description: not found}
        """
        page = db.session.get(Page, pk)
        if page is None:
            return self.response_404()
        result = health.do_check_page(page)
        return self.response(200, result=result.as_dict())
