"""REST resource `contact`."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from werkzeug.wrappers import Response

from app.contacts import services
from app.contacts.exceptions import ContactError, ContactForbidden, ContactOnHold
from app.contacts.models import Contact
from app.core.exceptions import DomainError
from app.core.roles import READ_WRITE_METHODS
from app.web.api import OmniModelRestApi

COLUMNS = [
    "id",
    "page_id",
    "psid",
    "first_name",
    "last_name",
    "profile_pic",
    "locale",
    "notes",
    "tags",
    "marketing_opt_out",
    "is_minor",
    "legal_hold",
    "restricted",
    "first_seen_at",
    "last_inbound_at",
    "erased_at",
    "channel",
    "username",
]


class ContactApi(OmniModelRestApi):
    resource_name = "contact"
    datamodel = SQLAInterface(Contact)
    class_permission_name = "Contact"
    method_permission_name = {**READ_WRITE_METHODS, "legal_hold": "legal_hold"}
    list_columns = COLUMNS
    show_columns = COLUMNS
    edit_columns = [
        "first_name",
        "last_name",
        "locale",
        "notes",
        "tags",
        "marketing_opt_out",
        "is_minor",
        "legal_hold",
    ]
    add_columns = ["page_id", "psid", "first_name", "last_name", "notes", "tags"]
    search_columns = [
        "first_name",
        "last_name",
        "psid",
        "page_id",
        "marketing_opt_out",
        "last_inbound_at",
        "tags",
    ]
    order_columns = ["id", "last_inbound_at", "first_name", "last_name"]
    openapi_spec_tag = "Contacts"

    def pre_update(self, item: Contact) -> None:
        """The grid's and the API's edits share one validation (services.before_update)."""
        services.before_update(item)

    def post_update(self, item: Contact) -> None:
        """A contact marked as a minor opens its erasure request (services.after_update)."""
        services.after_update(item)

    def pre_delete(self, item: Contact) -> None:
        """Only Admins delete, and never a contact under legal hold (services.check_delete)."""
        services.check_delete(item)

    def _answer_refusal(self, exc: DomainError) -> Response:
        """A refusal answers its own status (403 forbidden, 409 on hold, 422 otherwise)."""
        self.datamodel.session.rollback()
        return self.response(exc.status, message=str(exc))

    def put_headless(self, pk: int) -> Response:
        """A role that may not touch legal_hold gets 403 with the reason (other refusals: 422)."""
        try:
            return super().put_headless(pk)
        except ContactForbidden as exc:
            return self._answer_refusal(exc)

    def delete_headless(self, pk: int) -> Response:
        """Deleting is the Admin's only (403 otherwise); a contact under legal hold: 409."""
        try:
            return super().delete_headless(pk)
        except (ContactForbidden, ContactOnHold) as exc:
            return self._answer_refusal(exc)

    @expose("/<int:pk>/legal_hold", methods=["POST"])
    @protect()
    @safe
    @permission_name("legal_hold")
    def legal_hold(self, pk: int) -> Response:
        """Set or clear legal hold: `{"legal_hold": true|false}` (Privacy Officers, Admins).
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: The new value
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) != {"legal_hold"} or not isinstance(body["legal_hold"], bool):
            return self.response_400(message='send {"legal_hold": true} or {"legal_hold": false}')
        contact = self.datamodel.get(pk)
        if contact is None:
            return self.response_404()
        try:
            services.set_legal_hold(contact, body["legal_hold"])
        except (ContactForbidden, ContactError) as exc:
            return self._answer_refusal(exc)
        return self.response(200, id=contact.id, legal_hold=contact.legal_hold)
