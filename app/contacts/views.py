"""Contacts grid: search by name/PSID, filter by page, opt-out and last contact."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import BooleanField

from app import db
from app.contacts import services
from app.contacts.api import ContactApi
from app.contacts.exceptions import ContactError, ContactForbidden
from app.contacts.models import Contact
from app.contacts.tombstone_view import TombstoneListMixin
from app.core.roles import READ_WRITE_METHODS
from app.web.grids import ScaleListMixin
from app.web.urls import safe_next


class ContactModelView(TombstoneListMixin, ScaleListMixin, ModelView):
    datamodel = SQLAInterface(Contact)
    class_permission_name = "Contact"
    method_permission_name = {**READ_WRITE_METHODS, "edit_notes": "edit_notes", "legal_hold": "legal_hold"}
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
