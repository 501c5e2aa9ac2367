# Flask-AppBuilder ships no type hints: its base classes and decorators are Any to mypy.
# mypy: allow-subclassing-any, allow-untyped-decorators
"""Privacy requests admin: urgency grid, request form, four-eyes decisions, expiring download.

Thin: every rule lives in the privacy service modules (requests, decisions, export); this
module maps forms and buttons to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Response, abort, current_app, flash, jsonify, redirect, request, stream_with_context, url_for
from flask_appbuilder import AppBuilder, ModelView, expose, has_access
from flask_appbuilder.models.filters import BaseFilter
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation
from app.core.models import utcnow
from app.privacy import corrections, deadlines, decisions, export_link, extensions, matching, policy_routes
from app.privacy.api import PrivacyRequestApi
from app.privacy.exceptions import PrivacyError
from app.privacy.export import export_for_download
from app.privacy.interface import UrgencyInterface
from app.privacy.models import OPEN_STATUSES, PrivacyRequest, RequestSource, RequestStatus, RequestType
from app.privacy.permissions import PRIVACY_METHODS
from app.privacy.requests import (
    CONVERSATION_TYPES,
    RECTIFIABLE_FIELDS,
    DuplicateRequestError,
    acting_user_id,
    corrections_of,
    create_request,
    open_for_contact,
    open_requests_of,
)
from app.privacy.staff_form import IDENTITY_CHECKS, contact_choice, erasure_preview, search_contacts

logger = logging.getLogger(__name__)

COLOURS = {"green": "success", "amber": "warning", "red": "danger", "overdue": "danger", "closed": "default"}
TYPE_LABELS: dict[str, str] = {  # RequestType keys; request_type columns hold the plain str
    RequestType.ACCESS: "Access (data export)",
    RequestType.ERASURE: "Erasure",
    RequestType.RECTIFICATION: "Rectification",
    RequestType.RESTRICTION: "Restriction of processing",
    RequestType.MARKETING_OPT_OUT: "Marketing opt-out",
}


def due_badge(req: PrivacyRequest) -> Markup:
    """Days left with colour; only ids, dates and fixed words go in (no user data)."""
    level = deadlines.urgency(req)
    if level == "closed":
        return Markup('<span class="label label-default">{}</span>').format(req.due_at.date().isoformat())
    if level == "overdue":
        text = f"overdue by {-deadlines.days_left(req)} d"
    else:
        text = f"{deadlines.days_left(req)} days left"
    return Markup('<span class="label label-{} due-{}">{}</span>').format(COLOURS[level], level, text)


class FilterOverdue(BaseFilter):
    """Open requests past their due date."""

    name = "Overdue"
    arg_name = "ovd"

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(PrivacyRequest.due_at < utcnow(), PrivacyRequest.status.in_(OPEN_STATUSES))


class PrivacyRequestModelView(ModelView):
    datamodel = UrgencyInterface(PrivacyRequest)
    class_permission_name = "PrivacyRequest"
    method_permission_name = PRIVACY_METHODS
    list_title = "Privacy requests"
    list_template = "privacy/list.html"
    list_columns = ["id", "request_type", "contact", "status", "source", "progress", "due_at", "completed_at"]
    show_columns = [
        "id",
        "request_type",
        "contact",
        "status",
        "source",
        "requested_by",
        "approved_by",
        "received_at",
        "due_at",
        "completed_at",
        "result",
        "error",
    ]
    edit_columns = ["reason"]
    search_columns = ["request_type", "status", "source", "due_at"]
    order_columns = ["id", "due_at", "status", "request_type"]
    label_columns = {"due_at": "Due", "request_type": "Type", "progress": "Progress %"}
    page_size = 50

    # -- helpers

    def _can(self, verb: str) -> bool:
        return bool(self.appbuilder.sm.has_access(f"can_{verb}", self.class_permission_name))

    def _user_id(self) -> int | None:
        return acting_user_id()

    def _back(self, pk: int) -> WerkzeugResponse:
        return redirect(url_for(f"{type(self).__name__}.show", pk=pk))

    def _load(self, pk: int) -> PrivacyRequest:
        req: PrivacyRequest | None = db.session.get(PrivacyRequest, pk)
        if req is None:
            abort(404)
        return req

    # -- pages

    @expose("/list/")
    @has_access
    def list(self) -> Any:
        overdue = request.args.get("overdue") == "1"
        query = db.session.query(PrivacyRequest)
        if overdue:
            query = FilterOverdue("due_at", self.datamodel).apply(query, True)
        status = request.args.get("status")
        if status:
            query = query.filter(PrivacyRequest.status == status)
        raw_page = request.args.get("page", "0")
        page = int(raw_page) if raw_page.isdigit() else 0
        query = self.datamodel.apply_order_by(query, "", "")
        total = query.count()
        rows = query.offset(page * self.page_size).limit(self.page_size).all()
        return self.render_template(
            self.list_template,
            rows=[(r, due_badge(r)) for r in rows],
            overdue=overdue,
            status=status,
            page=page,
            pages=(total + self.page_size - 1) // self.page_size,
            total=total,
            labels=TYPE_LABELS,
            can_create=self._can("create"),
            title=self.list_title,
        )

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk: int) -> Any:
        req = self._load(pk)
        uid = self._user_id()
        can_match = self._can("approve") and req.source == RequestSource.WEB and req.status == RequestStatus.PENDING
        match_q = (request.args.get("q") or "").strip()[:100] if can_match else ""
        return self.render_template(
            "privacy/show.html",
            req=req,
            badge=due_badge(req),
            badge_state=deadlines.urgency(req),
            labels=TYPE_LABELS,
            can_approve=self._can("approve"),
            can_download=self._can("download"),
            can_write=self._can("write"),
            own=req.requested_by_id is not None and req.requested_by_id == uid,
            export_valid=bool(req.export_path and req.export_expires_at and req.export_expires_at > utcnow()),
            links=[(link, link.state(utcnow())) for link in export_link.links_of(req)],
            can_match=can_match,
            can_correct=self._can("approve")
            and req.request_type == RequestType.RECTIFICATION
            and req.status == RequestStatus.PENDING,
            corrections=corrections_of(req),
            fields=RECTIFIABLE_FIELDS,
            match_q=match_q,
            match_hits=search_contacts(match_q) if match_q else [],
            identity_checks=IDENTITY_CHECKS,
            title=f"Privacy request #{req.id}",
        )

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self) -> Any:
        form: dict[str, str] = {k: (v or "").strip() for k, v in (request.form or request.args).items()}
        contact = None
        contact_id = form.get("contact_id", "")
        if contact_id.isdigit():
            contact = db.session.get(Contact, int(contact_id))
        error = None
        if request.method == "POST":
            req, error = self._create(form, contact)
            if req is not None:
                flash(
                    f"Privacy request #{req.id} ({TYPE_LABELS[req.request_type]}) created; "
                    f"a privacy officer will review it (due {req.due_at.strftime('%d %B %Y')}).",
                    "success",
                )
                if self._can("read"):
                    return self._back(req.id)
                return redirect(url_for("ContactModelView.show", pk=req.contact_id))
        query = form.get("q", "")
        return self.render_template(
            "privacy/add.html",
            form=form,
            contact=contact,
            chosen=contact_choice(contact) if contact is not None and not contact.erased_at else None,
            query=query,
            matches=search_contacts(query) if query and contact is None else [],
            error=error,
            types=TYPE_LABELS,
            fields=RECTIFIABLE_FIELDS,
            identity_checks=IDENTITY_CHECKS,
            title="New privacy request",
        ), (422 if error else 200)

    def _create(self, form: dict[str, str], contact: Contact | None) -> tuple[PrivacyRequest | None, str | None]:
        """The form's POST: the request, or why not (nothing written then)."""
        request_type = form.get("request_type", "")
        details = {k: form.get(k, "") for k in RECTIFIABLE_FIELDS if form.get(k)}
        try:
            if contact is None:
                raise PrivacyError("choose an existing contact: search by name or PSID and pick one")
            req = create_request(
                request_type,
                contact,
                source=RequestSource.STAFF,
                requested_by_id=self._user_id(),
                details=(details or None) if request_type == RequestType.RECTIFICATION else None,
                identity_check=form.get("identity_check") or None,
                jurisdiction=form.get("jurisdiction") or None,
            )
        except PrivacyError as exc:
            db.session.rollback()
            return None, str(exc)
        return req, None

    @expose("/match/<int:pk>", methods=["POST"])
    @has_access
    def match(self, pk: int) -> Any:
        """Tie a web request to a contact, recording how identity was verified."""
        raw = (request.form.get("contact_id") or "").strip()
        contact_id = int(raw) if raw.isdigit() and len(raw) < 10 else raw or None
        check = (request.form.get("identity_check_other") or "").strip() or request.form.get("identity_check")
        return self._act(
            pk,
            lambda req: matching.match_request(req, contact_id, check),
            lambda req: f"Request #{pk} matched to contact #{req.contact_id}; identity recorded as verified.",
            refused="Not matched: ",
        )

    @expose("/corrections/<int:pk>", methods=["POST"])
    @has_access
    def corrections(self, pk: int) -> Any:
        """Record what a pending rectification corrects."""
        fields = {k: request.form.get(k, "") for k in RECTIFIABLE_FIELDS}
        return self._act(
            pk,
            lambda req: corrections.set_corrections(req, fields),
            lambda req: f"Corrections recorded for request #{pk}: {', '.join(sorted(corrections_of(req)))}.",
            refused="Corrections not saved: ",
        )

    @expose("/open/<int:conversation_id>", methods=["POST"])
    @has_access
    def open_for_conversation(self, conversation_id: int) -> Any:
        """The conversation view's one click: a staff request about the conversation's contact."""
        conversation: Conversation | None = db.session.get(Conversation, conversation_id)
        if conversation is None:
            abort(404)
        try:
            req = open_for_contact(conversation.contact, request.form.get("request_type", ""), self._user_id())
        except DuplicateRequestError as exc:
            db.session.rollback()
            flash(f"Not opened: {exc}.", "warning")
        except PrivacyError as exc:
            db.session.rollback()
            flash(f"Not opened: {exc}.", "danger")
        else:
            flash(
                f"Privacy request #{req.id} ({TYPE_LABELS[req.request_type]}) opened; "
                f"a privacy officer will review it (due {req.due_at.strftime('%d %B %Y')}).",
                "success",
            )
        return redirect(url_for("InboxView.detail", pk=conversation_id) + "#privacy-requests")

    @expose("/contacts")
    @has_access
    def contact_search(self) -> Any:
        """JSON for the form's search box: `?q=name or PSID` -> up to 20 matching contacts."""
        return jsonify({"contacts": search_contacts(request.args.get("q", "")[:100])})

    @expose("/confirm/<int:pk>")
    @has_access
    def confirm(self, pk: int) -> Any:
        """Before an erasure is approved: who it is about and what goes, irreversibly."""
        req = self._load(pk)
        if req.request_type != RequestType.ERASURE or req.status != RequestStatus.PENDING:
            return self._back(pk)
        return self.render_template(
            "privacy/confirm_erasure.html",
            req=req,
            preview=erasure_preview(req),
            title=f"Confirm erasure — request #{req.id}",
        )

    @expose("/decide/<int:pk>", methods=["POST"])
    @has_access
    def decide(self, pk: int) -> Any:
        req = self._load(pk)
        decision = request.form.get("decision")
        try:
            if (
                decision == "approve"
                and req.request_type == RequestType.ERASURE
                and request.form.get("confirmed") != "1"
            ):
                return redirect(url_for(f"{type(self).__name__}.confirm", pk=pk))  # confirm first
            if decision == "approve":
                decisions.approve(req, self._user_id())
                flash(f"Request #{pk} approved; processing has started.", "success")
            elif decision == "deny":
                decisions.deny(req, self._user_id(), request.form.get("reason"))
                flash(f"Request #{pk} denied.", "info")
            else:
                raise PrivacyError("choose approve or deny")
        except PrivacyError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        return self._back(pk)

    @expose("/extend/<int:pk>", methods=["POST"])
    @has_access
    def extend(self, pk: int) -> Any:
        """Extend once, with the reason the requester is told."""
        return self._simple(
            pk, lambda req: extensions.do_extend(req, request.form.get("reason")), "extended; the requester is told why"
        )

    @expose("/retry/<int:pk>", methods=["POST"])
    @has_access
    def retry(self, pk: int) -> Any:
        return self._simple(pk, lambda req: decisions.retry(req), "queued again")

    @expose("/lift/<int:pk>", methods=["POST"])
    @has_access
    def lift(self, pk: int) -> Any:
        return self._simple(pk, lambda req: decisions.lift_restriction(req), "restriction lifted")

    @expose("/cancel/<int:pk>", methods=["POST"])
    @has_access
    def cancel(self, pk: int) -> Any:
        return self._simple(pk, lambda req: decisions.cancel(req, request.form.get("reason")), "canceled")

    def _simple(self, pk: int, fn: Any, done: str) -> Any:
        return self._act(pk, fn, lambda _req: f"Request #{pk} {done}.")

    def _act(self, pk: int, fn: Any, done: Callable[[PrivacyRequest], str], refused: str = "") -> Any:
        """Run a service on the request: flash what was done, or the refusal (nothing written)."""
        req = self._load(pk)
        try:
            fn(req)
        except PrivacyError as exc:
            db.session.rollback()
            flash(f"{refused}{exc}", "danger")
        else:
            flash(done(req), "success")
        return self._back(pk)

    @expose("/export_link/<int:pk>", methods=["POST"])
    @has_access
    def new_export_link(self, pk: int) -> Any:
        """A new single-use link for the requester (the old one stops working), sent like the
        completed notice; the token is never shown to staff."""
        req = self._load(pk)
        try:
            used = export_link.reissue(req, self._user_id())
        except PrivacyError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back(pk)
        if used:
            flash(f"A new download link was sent by {' and '.join(used)}; the old link no longer works.", "success")
        else:
            flash(
                "A new link was made, but the requester has no e-mail address or open Messenger window: "
                "nobody received it. Download the export and hand it over yourself.",
                "warning",
            )
        return self._back(pk)

    @expose("/export/<int:pk>")
    @has_access
    def download_export(self, pk: int) -> Any:
        req = self._load(pk)
        try:
            req, chunks = export_for_download(req)
        except PrivacyError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back(pk)
        return Response(
            stream_with_context(chunks),
            mimetype="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="privacy-request-{req.id}.zip"',
                "Cache-Control": "no-store",
            },
        )


def contact_link(contact: Contact) -> Markup:
    """The contact page's 'New privacy request' button."""
    return Markup('<a class="btn btn-sm btn-default" href="{}">New privacy request</a>').format(
        url_for("PrivacyRequestModelView.add", contact_id=contact.id)
    )


def register(ab: AppBuilder) -> None:
    """Add the admin view and the REST resource (views -> api only: no cycle), and what the
    conversation view's "Privacy requests" box calls."""
    policy_routes.register(ab)
    app: Any = current_app
    app.jinja_env.globals["omnicrm_privacy_requests_of"] = open_requests_of
    app.jinja_env.globals["omnicrm_privacy_choices"] = {key: TYPE_LABELS[t] for key, t in CONVERSATION_TYPES.items()}
    ab.add_view(
        PrivacyRequestModelView,
        "Privacy Requests",
        icon="fa-user-secret",
        category="Privacy",
    )
    ab.add_api(PrivacyRequestApi)
