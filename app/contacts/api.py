"""REST resource `contact`."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.contacts import services
from app.contacts.models import Contact
from app.core.api import OmniModelRestApi
from app.core.roles import READ_WRITE_METHODS

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
]


class ContactApi(OmniModelRestApi):
    resource_name = "contact"
    datamodel = SQLAInterface(Contact)
    class_permission_name = "Contact"
    method_permission_name = READ_WRITE_METHODS
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
        services.before_update(item)

    def post_update(self, item: Contact) -> None:
        services.after_update(item)
