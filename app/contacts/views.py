"""Contacts grid: search by name/PSID, filter by page, opt-out and last contact."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args
from wtforms import BooleanField

from app import db
from app.contacts import export, services
from app.contacts.api import ContactApi
from app.contacts.exceptions import ContactError, ContactForbidden
from app.contacts.models import Contact
from app.contacts.tombstone_view import TombstoneListMixin
from app.conversations import services as conversation_services
from app.core.roles import READ_WRITE_METHODS
from app.web import grid_filters
from app.web.formatting import ReadableGridMixin, tag_badges
from app.web.grid_export import csv_download, filter_summary
from app.web.grids import ScaleListMixin
from app.web.urls import safe_next


def _conversation_link(pk: int) -> str:
    return url_for("ContactModelView.conversation", pk=pk)


class ContactModelView(TombstoneListMixin, ReadableGridMixin, ScaleListMixin, ModelView):
    datamodel = SQLAInterface(Contact)
    list_template = "contacts/list.html"  # the CSV export button
    link_columns = {"display_name": _conversation_link}  # the name opens the contact's conversation
    formatters_columns = {"tags": tag_badges}
    class_permission_name = "Contact"
    method_permission_name = {
        **READ_WRITE_METHODS,
        "edit_notes": "edit_notes",
        "legal_hold": "legal_hold",
        "conversation": "read",
        "export": "export",
    }
    list_title = "Contacts"
    show_template = "contacts/show.html"  # "New privacy request" and the legal-hold switch
    list_columns = [
        "display_name",
        "page.name",
        "psid",
        "tags",
        "marketing_opt_out",
        "last_inbound_at",
    ]
    show_columns = [
        "display_name",
        "page",
        "psid",
        "locale",
        "tags",
        "notes",
        "marketing_opt_out",
        "is_minor",
        "legal_hold",
        "restricted",
        "first_seen_at",
        "last_inbound_at",
        "erased_at",
    ]
    edit_columns = [
        "first_name",
        "last_name",
        "locale",
        "tags",
        "notes",
        "marketing_opt_out",
        "is_minor",
        "legal_hold",
    ]
    add_columns = ["page", "psid", "first_name", "last_name", "tags", "notes"]
    search_columns = [
        "first_name",
        "last_name",
        "psid",
        "page",
        "tags",
        "marketing_opt_out",
        "last_inbound_at",
    ]
    order_columns = ["psid", "last_inbound_at", "marketing_opt_out"]
    base_order = ("last_inbound_at", "desc")
    label_columns = {
        "display_name": "Name",
        "page.name": "Page",
        "psid": "PSID",
        "marketing_opt_out": "Opted out of marketing",
        "is_minor": "Under 13",
        "last_inbound_at": "Last message from contact",
    }
    description_columns = {
        "is_minor": "Marking a contact as under 13 opens an erasure request automatically.",
        "legal_hold": "Stops retention and erasure while set.",
    }

    # FAB makes non-nullable booleans InputRequired, so an unticked box could never be saved
    # (and every edit would set legal_hold): plain checkboxes instead.
    edit_form_extra_fields = {
        "marketing_opt_out": BooleanField("Opted out of marketing"),
        "is_minor": BooleanField("Under 13", description=description_columns["is_minor"]),
        "legal_hold": BooleanField("Legal hold", description=description_columns["legal_hold"]),
    }

    def pre_update(self, item: Contact) -> None:
        """Shared validation; a refusal discards the form's changes before FAB flashes it."""
        try:
            services.before_update(item)
        except (ContactError, ContactForbidden):
            db.session.rollback()  # FAB flashes the reason; nothing of the form may be flushed later
            raise

    def pre_delete(self, item: Contact) -> None:
        """FAB flashes the refusal and keeps the row (delete button hidden without the right)."""
        services.check_delete(item)

    def post_update(self, item: Contact) -> None:
        """Side effects of a saved edit (a minor's erasure request)."""
        services.after_update(item)

    @expose("/notes/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit_notes(self, pk: int) -> ResponseReturnValue:
        """Agents edit only notes and tags (the rule lives in contacts.services)."""
        contact = db.session.get(Contact, pk)
        if contact is None:
            abort(404)
        if request.method == "POST":
            try:
                services.update_notes(contact, request.form.get("notes"), request.form.get("tags"))
            except ContactError as exc:
                flash(str(exc), "danger")
            else:
                flash("Notes and tags saved.", "success")
            return redirect(safe_next(request.form.get("next"), url_for(".show", pk=pk)))
        html: str = self.render_template("contacts/notes.html", contact=contact)
        return html

    def _init_properties(self) -> None:
        super()._init_properties()
        grid_filters.contains_first(self._filters, "tags")  # "vip" finds "returning, vip"

    @expose("/conversation/<int:pk>")
    @has_access
    def conversation(self, pk: int) -> ResponseReturnValue:
        """The contact's conversation (one per contact and page); its record when there is none."""
        contact = db.session.get(Contact, pk)
        if contact is None:
            abort(404)
        conversation_id = conversation_services.conversation_id_of(contact.id)
        if conversation_id is None or not self.appbuilder.sm.has_access("can_read", "Conversation"):
            if conversation_id is None:
                flash("This contact has no conversation yet.", "info")
            return redirect(url_for(".show", pk=pk))
        return redirect(url_for("InboxView.detail", pk=conversation_id))

    @expose("/export/")
    @has_access
    def export(self) -> Response:
        """CSV of the contacts matching the grid's filters: streamed, formula-safe, audited."""
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        return csv_download("contacts", export.contacts_csv(filters, filter_summary(request.args)))

    @expose("/legal_hold/<int:pk>", methods=["POST"])
    @has_access
    def legal_hold(self, pk: int) -> ResponseReturnValue:
        """Privacy Officers and Admins set or clear legal_hold (POST with CSRF, audited)."""
        contact = db.session.get(Contact, pk)
        if contact is None:
            abort(404)
        hold = request.form.get("legal_hold") in ("1", "y", "on", "true")
        try:
            services.set_legal_hold(contact, hold)
        except (ContactError, ContactForbidden) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash("Legal hold set." if hold else "Legal hold cleared.", "success")
        return redirect(url_for(".show", pk=pk))


def register(ab: AppBuilder) -> None:
    ab.add_view(ContactModelView, "Contacts", icon="fa-address-book", category="CRM")
    ab.add_api(ContactApi)
